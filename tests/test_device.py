"""Device choice. CI has no GPU: the CUDA branch is exercised on the GPU machine by hand
(see the note of issue 5), here only the CPU path and the override are real."""

import torch

from hepcourse import device as device_module
from hepcourse.cpus import cpu_budget


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


def test_cpu_budget_follows_the_container_quota(tmp_path):
    cpus = len(__import__("os").sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")              # 1.5 CPUs -> 2 threads (or fewer CPUs)
    assert cpu_budget(quota) == min(cpus, 2)
    quota.write_text("50000 100000\n")               # half a CPU still gets one thread
    assert cpu_budget(quota) == 1
    quota.write_text("max 100000\n")
    assert cpu_budget(quota) == cpus
    assert cpu_budget(tmp_path / "absent") == cpus


def test_data_workers_follow_the_cpu_budget_not_the_hosts_cores(monkeypatch):
    from hepcourse.data import build

    monkeypatch.delenv("HEPCOURSE_WORKERS", raising=False)
    monkeypatch.setattr(build, "cpu_budget", lambda: 3)   # a 3-CPU container on a bigger host
    assert build.default_workers() == 3


def test_the_stack_report_imports_everything_and_says_where_torch_computes():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "hepcourse.device"], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines[:len(device_module.STACK)]] == device_module.STACK
    cuda = "torch.cuda.is_available(): False" if not torch.cuda.is_available() else "CUDA device 0:"
    assert any(line.startswith(cuda) for line in lines) and lines[-1].startswith("notebooks compute on: torch")
    # torchvision only with CUDA torch (the CUDA image): there its compiled operators must run
    vision = ": nms on cuda keeps boxes [0, 2]" if torch.version.cuda else ": not with CPU torch"
    assert any(line.startswith("torchvision") and vision in line for line in lines), lines
