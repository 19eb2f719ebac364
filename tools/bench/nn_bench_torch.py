"""nn_bench_torch.py - the PyTorch twin of tests/net/nn_bench.c: one SGLD step (forward,
backward of N/B x minibatch log-likelihood + Gaussian prior, Langevin update with torch.randn)
of the same networks, float32, one thread.  Prints "case steps_per_s" lines.
    /usr/bin/python3 tools/bench/nn_bench_torch.py [seconds per case]"""
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(1)
sec = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
N = 8000


class Hetero(nn.Module):
    def forward(self, out, y):  # log N(y; mu, exp(v)) summed
        mu, v = out[:, 0], out[:, 1]
        return (-0.5 * (math.log(2 * math.pi) + v + (y - mu) ** 2 * torch.exp(-v))).sum()


def step_fn(net, x, y, loglik, eps=1e-6):
    params = list(net.parameters())
    scale, sd = N / x.shape[0], math.sqrt(eps)

    def step():
        for p in params:
            p.grad = None
        lp = scale * loglik(net(x), y) - 0.5 * sum((p * p).sum() for p in params)
        lp.backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=0.5 * eps).add_(torch.randn_like(p), alpha=sd)
    return step


def bench(name, net, x, y, loglik):
    step = step_fn(net, x, y, loglik)
    for _ in range(3):
        step()
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(5):
            step()
        n += 5
        t = time.perf_counter() - t0
        if t >= sec:
            break
    print(f"{name} {n / t:.2f} steps/s")


xent = lambda out, y: -F.cross_entropy(out, y, reduction="sum")
bench("mlp-8-50-2", nn.Sequential(nn.Linear(8, 50), nn.ReLU(), nn.Linear(50, 2)),
      torch.rand(32, 8), torch.randn(32), Hetero())
bench("mlp-784-1200-1200-10", nn.Sequential(nn.Linear(784, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
                                            nn.Linear(1200, 10)),
      torch.rand(128, 784), torch.randint(0, 10, (128,)), xent)
bench("cnn-seed", nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10)),
      torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,)), xent)
print(f"torch {torch.__version__}")
