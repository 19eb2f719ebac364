"""NumPy implementation of the same univariate algorithm as src/diag (posterior / Stan):
split chains, Blom rank normalization, FFT autocovariance padded to 2 x next 2^a3^b5^c,
Geyer initial positive + monotone sequence, tail ESS from type-7 quantile indicators, rank
R-hat, mcse_mean and mcse_sd (posterior's rule, the default).  The MCSE of the quantiles is left
out (it needs a beta quantile NumPy does not have; src/diag spends one more ESS and six beta
quantiles per element on it).  Times the first K elements of /posterior/w and prints
`numpy_us_per_element X`.  usage: ess_numpy.py FILE K"""
import math
import sys
import time
from statistics import NormalDist

import h5py
import numpy as np


def good(n):
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m <= 1:
            return n
        n += 1


def ess(x):
    m, n = x.shape
    size = 2 * good(n)
    y = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(y, size, axis=1)
    ac = np.fft.irfft(f * np.conj(f), size, axis=1)[:, :n] / n
    mean_var = ac[:, 0].mean() * n / (n - 1)
    var_plus = mean_var * (n - 1) / n + (x.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    rho_k = 1 - (mean_var - ac.mean(axis=0)) / var_plus
    rho = np.zeros(n)
    rho[0], rho[1] = 1.0, rho_k[1]
    t, even, odd = 0, 1.0, rho_k[1]
    while t < n - 5 and even + odd > 0:
        t += 2
        even, odd = rho_k[t], rho_k[t + 1]
        if even + odd >= 0:
            rho[t], rho[t + 1] = even, odd
    mt = t
    if even > 0:
        rho[mt] = even
    for t in range(2, mt - 1, 2):
        if rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]:
            rho[t] = rho[t + 1] = (rho[t - 2] + rho[t - 1]) / 2
    S = m * n
    tau = max(-1 + 2 * rho[:mt].sum() + rho[mt], 1 / math.log10(S))
    return S / tau


def rhat(x):
    m, n = x.shape
    return math.sqrt((n * x.mean(axis=1).var(ddof=1) / x.var(axis=1, ddof=1).mean() + n - 1) / n)


def split(x):
    h = x.shape[1] // 2
    return np.vstack([x[:, :h], x[:, x.shape[1] - h:]])


def summarize(x, ztab):
    xs = split(x)
    order = np.argsort(xs, axis=None, kind="stable")
    z = np.empty(xs.size)
    z[order] = ztab  # continuous draws: no ties
    z = z.reshape(xs.shape)
    q05, q50, q95 = np.quantile(x, [0.05, 0.5, 0.95])
    fold = np.abs(xs - q50)
    zf = np.empty(xs.size)
    zf[np.argsort(fold, axis=None, kind="stable")] = ztab
    out = dict(ess_bulk=ess(z), rhat=max(rhat(z), rhat(zf.reshape(xs.shape))),
               ess_tail=min(ess((xs <= q05).astype(float)), ess((xs <= q95).astype(float))))
    sd = x.std(ddof=1)
    out["mcse_mean"] = sd / math.sqrt(ess(xs))
    d = x - x.mean()
    e2 = (d ** 2).mean()
    out["mcse_sd"] = math.sqrt(((d ** 4).mean() - e2 ** 2) / ess((xs - x.mean()) ** 2) / e2 / 4)
    return out


path, k = sys.argv[1], int(sys.argv[2])
with h5py.File(path, "r") as f:
    w = f["posterior/w"]
    m, n = w.shape[0], w.shape[1]
    S = 2 * m * (n // 2)
    inv = NormalDist().inv_cdf
    ztab = np.array([inv((i + 1 - 0.375) / (S + 0.25)) for i in range(S)])
    data = np.asarray(w[:, :, :k], dtype=np.float64)
t0 = time.perf_counter()
for e in range(k):
    summarize(data[:, :, e], ztab)
dt = time.perf_counter() - t0
print("numpy_us_per_element %.1f" % (1e6 * dt / k))
