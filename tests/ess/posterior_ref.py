"""The R package posterior's ESS (R/convergence.R, posterior 1.5.0: .ess, split chains) on its own
in NumPy: the reference the python-checked tests of sgld-ess summary compare with."""
import math

import numpy as np


def next_good(n):
    if n <= 2:
        return 2
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m <= 1:
            return n
        n += 1


def ess(x):
    """posterior's .ess of x [chains, draws]: NA (NaN) for fewer than 3 draws or constant input."""
    m, n = x.shape
    if n < 3 or not np.all(np.isfinite(x)) or np.all(x == x.flat[0]):
        return math.nan
    size = 2 * next_good(n)
    acov = np.zeros((m, n))
    for c in range(m):  # posterior's autocovariance: all zero for a constant chain
        var = x[c].var(ddof=1)
        if var > 0:
            y = np.fft.rfft(x[c] - x[c].mean(), size)
            ac = np.fft.irfft(np.abs(y) ** 2, size)[:n]
            acov[c] = ac / ac[0] * var * (n - 1) / n
    acm = acov.mean(axis=0)
    mean_var = acm[0] * n / (n - 1)
    var_plus = mean_var * (n - 1) / n + (x.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    rho = np.zeros(n)
    rho[0], t, even = 1.0, 0, 1.0
    odd = rho[1] = 1 - (mean_var - acm[1]) / var_plus
    while t < n - 5 and not math.isnan(even + odd) and even + odd > 0:
        t += 2
        even, odd = 1 - (mean_var - acm[t]) / var_plus, 1 - (mean_var - acm[t + 1]) / var_plus
        if even + odd >= 0:
            rho[t], rho[t + 1] = even, odd
    max_t = t
    if even > 0:
        rho[max_t] = even
    t = 0
    while t <= max_t - 4:
        t += 2
        if rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]:
            rho[t] = rho[t + 1] = (rho[t - 2] + rho[t - 1]) / 2
    tau = max(-1 + 2 * rho[:max_t].sum() + rho[max_t], 1 / math.log10(m * n))
    return m * n / tau


def split(x):
    n = x.shape[1]
    return np.vstack([x[:, : n // 2], x[:, n - n // 2:]])
