"""Training-step time of the course's torch workloads on the CPU and, where CUDA exists, on the
GPU, side by side in one run, with the speed-up.

Two workloads shaped like the modules' models at `course` scale: module 04's permutation-
invariant tagger (a Deep Sets / Energy Flow Network over 100 constituents x 4 features, batch
512) and module 05's energy-conditioned VAE on calorimeter showers (504 cells, batch 256).
Without CUDA it prints the CPU figures and says the GPU half was skipped.

    make bench-gpu
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from hepcourse.device import describe


class DeepSets(nn.Module):
    def __init__(self, features=4, width=128):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, width))
        self.f = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, x, mask):
        return self.f((self.phi(x) * mask.unsqueeze(-1)).sum(1)).squeeze(-1)


class ConditionalVAE(nn.Module):
    def __init__(self, cells=504, latent=16, width=256):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(cells + 1, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent + 1, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, cells))

    def forward(self, x, e):
        mu, logvar = self.enc(torch.cat([x, e], 1)).chunk(2, 1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.dec(torch.cat([z, e], 1))
        return ((recon - x) ** 2).sum(1).mean() - 0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1).mean()


def workloads(device):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 100, 4, generator=gen)
    mask = (torch.rand(512, 100, generator=gen) < 0.5).float()
    y = torch.randint(0, 2, (512,), generator=gen).float()
    tagger = DeepSets().to(device)
    x, mask, y = x.to(device), mask.to(device), y.to(device)
    loss_tagger = lambda: nn.functional.binary_cross_entropy_with_logits(tagger(x, mask), y)
    showers, energy = torch.rand(256, 504, generator=gen).to(device), torch.rand(256, 1, generator=gen).to(device)
    vae = ConditionalVAE().to(device)
    return {"04 Deep Sets tagger (512 jets x 100 constituents)": (tagger, loss_tagger),
            "05 conditional VAE (256 showers x 504 cells)": (vae, lambda: vae(showers, energy))}


def step_ms(model, loss_fn, device, steps: int) -> float:
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimiser.zero_grad()
        loss_fn().backward()
        optimiser.step()

    for _ in range(5):              # warm-up: allocator, kernels, autotuning
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(describe())
    results = {d.type: {name: step_ms(m, f, d, args.steps) for name, (m, f) in workloads(d).items()} for d in devices}
    for name in results["cpu"]:
        line = f"{name:52} CPU {results['cpu'][name]:8.2f} ms/step"
        if "cuda" in results:
            gpu = results["cuda"][name]
            line += f"   GPU {gpu:7.2f} ms/step   speed-up {results['cpu'][name] / gpu:6.1f}x"
        print(line)
    if "cuda" not in results:
        print("no CUDA device here: GPU figures skipped (run `make bench-gpu` on the GPU server)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
