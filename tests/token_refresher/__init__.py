"""Tests of the token refresher sidecar, against a fake hub on a loopback port."""
