"""GPU requests for user containers (docker mode). A per-user GPU pool comes later."""

from __future__ import annotations

from docker.types import DeviceRequest


def device_requests(gpus: str | list[str]) -> list[DeviceRequest]:
    """``all`` -> every GPU; a list of ids -> exactly those devices; ``none`` -> nothing."""
    if gpus == "none":
        return []
    if gpus == "all":
        return [DeviceRequest(driver="nvidia", count=-1, capabilities=[["gpu"]])]
    return [DeviceRequest(driver="nvidia", device_ids=list(gpus), capabilities=[["gpu"]])]
