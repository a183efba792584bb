"""`cs3://` for fsspec: kernels read and write the user's CS3 files without a FUSE mount.

pandas, pyarrow, xarray, dask and polars accept fsspec URLs, so `pd.read_csv("cs3://data.csv")`
reads `data.csv` next to the notebook. The filesystem talks to reva over the same access layer
as the contents manager (`cs3_contents_manager.cs3`) and logs in with the same token file; a
Jupyter server running the contents manager hands its settings to every kernel it starts
(`kernels.py`), so code in a notebook needs no configuration.
"""

from .filesystem import CS3FileSystem

__all__ = ["CS3FileSystem"]
