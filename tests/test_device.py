"""Device choice. CI has no GPU: the CUDA branch is exercised on the GPU machine by hand
(see the note of issue 5), here only the CPU path and the override are real."""

import torch

from hepcourse import device as device_module


def test_cpu_when_no_gpu_and_override(monkeypatch):
    device_module.device.cache_clear()
    monkeypatch.delenv("HEPCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert device_module.device().type == expected
    device_module.device.cache_clear()
    monkeypatch.setenv("HEPCOURSE_DEVICE", "cpu")
    assert device_module.device() == torch.device("cpu")
    assert "on cpu" in device_module.describe()
    device_module.device.cache_clear()
