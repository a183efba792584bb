"""What a notebook does with data: pandas, pyarrow, xarray and h5py read and write `cs3://`
URLs on a real reva, and the Jupyter server's contents API sees the very same bytes."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import h5py
import httpx
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cs3_contents_manager.cs3fs import CS3FileSystem
from tests.harness.jupyter import JupyterServer

pytestmark = pytest.mark.reva


def api_bytes(server: JupyterServer, path: str) -> bytes:
    """The file as the contents API (what JupyterLab opens) serves it."""
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as http:
        res = http.get(f"/api/contents/{quote(path)}", params={"type": "file", "format": "base64"})
    assert res.status_code == 200, res.text
    return base64.b64decode(res.json()["content"])


def api_upload(server: JupyterServer, path: str, data: bytes) -> None:
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as http:
        res = http.put(
            f"/api/contents/{quote(path)}",
            json={"type": "file", "format": "base64", "content": base64.b64encode(data).decode()},
        )
    assert res.status_code in (200, 201), res.text


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "x": rng.normal(size=rows),
            "label": rng.choice(["alpha", "beta", "gamma"], size=rows),
        }
    )


def test_csv_round_trip_and_the_contents_api_sees_the_same_bytes(
    fs: CS3FileSystem, server: JupyterServer, folder: str
) -> None:
    df = frame(20_000)
    url = f"cs3://~/{folder}/data.csv"
    df.to_csv(url, index=False, storage_options=fs.storage_options)
    back = pd.read_csv(url, storage_options=fs.storage_options)
    pd.testing.assert_frame_equal(back, df)
    stored = fs.cat(url)
    assert stored == df.to_csv(index=False).encode()
    assert api_bytes(server, f"{folder}/data.csv") == stored


def test_a_file_uploaded_in_the_browser_is_read_by_pandas(
    fs: CS3FileSystem, server: JupyterServer, folder: str
) -> None:
    text = "city,visitors\nGeneva,3\nZurich,5\n"
    api_upload(server, f"{folder}/upload.csv", text.encode())
    df = pd.read_csv(f"cs3://~/{folder}/upload.csv", storage_options=fs.storage_options)
    assert df["visitors"].sum() == 8
    assert list(df["city"]) == ["Geneva", "Zurich"]


def test_parquet_round_trip_through_pyarrow_seeking_on_a_storage_without_ranges(
    fs: CS3FileSystem, server: JupyterServer, folder: str
) -> None:
    # Several row groups over several fsspec blocks: pyarrow reads the footer at the end
    # first, then goes back for the columns, which reva's local storage serves only as a
    # stream from the start.
    df = frame(400_000)
    url = f"cs3://~/{folder}/table.parquet"
    df.to_parquet(url, engine="pyarrow", row_group_size=50_000, storage_options=fs.storage_options)
    size = fs.info(url)["size"]
    assert size > 5 * 1024 * 1024, "the file should span several read blocks"
    back = pd.read_parquet(url, engine="pyarrow", storage_options=fs.storage_options)
    pd.testing.assert_frame_equal(back, df)
    only = pd.read_parquet(url, columns=["x"], storage_options=fs.storage_options)
    assert np.array_equal(only["x"].to_numpy(), df["x"].to_numpy())
    assert api_bytes(server, f"{folder}/table.parquet") == fs.cat(url)
    # The footer, as pyarrow reads it first: the storage refused the range, the stream served it.
    assert fs.cat_file(url, start=-4) == b"PAR1"
    assert fs.ranges[fs.info(url)["storage_id"]] is False, "reva's local storage served a range"


def test_xarray_netcdf_round_trip(fs: CS3FileSystem, server: JupyterServer, folder: str) -> None:
    temperature = np.random.default_rng(3).normal(size=(24, 90, 180)).astype("float32")
    ds = xr.Dataset(
        {"t": (("time", "lat", "lon"), temperature)},
        coords={"time": np.arange(24), "lat": np.linspace(-89, 89, 90), "lon": np.linspace(0, 358, 180)},
    )
    url = f"cs3://~/{folder}/climate.nc"
    with fs.open(url, "wb") as out:
        out.write(ds.to_netcdf(engine="h5netcdf"))
    with fs.open(url, "rb") as f, xr.open_dataset(f, engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), ds)
        assert float(back["t"].isel(time=5, lat=10, lon=20)) == pytest.approx(float(temperature[5, 10, 20]))
    assert api_bytes(server, f"{folder}/climate.nc") == fs.cat(url)


def test_h5py_reads_datasets_out_of_order(fs: CS3FileSystem, folder: str, tmp_path: Path) -> None:
    local = tmp_path / "run.h5"
    rng = np.random.default_rng(11)
    arrays = {f"run{i}": rng.integers(0, 1000, size=(256, 1024)) for i in range(6)}
    with h5py.File(local, "w") as h5:
        for key, value in arrays.items():
            h5.create_dataset(key, data=value)
    fs.put(str(local), f"~/{folder}/run.h5")
    with fs.open(f"~/{folder}/run.h5", "rb", block_size=256 * 1024) as f, h5py.File(f, "r") as h5:
        assert sorted(h5) == sorted(arrays)
        # Last first, then back to the start: every direction a reader may seek in.
        for key in ["run5", "run0", "run3", "run1"]:
            assert np.array_equal(h5[key][:], arrays[key])
        assert h5["run4"][100, 7] == arrays["run4"][100, 7]
