/* loss.c - the output layer's log-likelihoods and their gradients with respect to the
 * network outputs (sums over rows in double).
 *
 *   softmax        log p(y | z)       = z_y - logsumexp(z)            d/dz_k = [k = y] - p_k
 *   Gaussian       log N(y; f, s^2)   = -(y-f)^2 / 2s^2 - log(s sqrt(2 pi))   d/df = (y-f) / s^2
 *   heteroscedastic (f, v = log variance):
 *                  log N(y; f, e^v)   = -(log 2 pi + v + (y-f)^2 e^-v) / 2
 *                  d/df = (y-f) e^-v,  d/dv = ((y-f)^2 e^-v - 1) / 2 */
#include <math.h>

#include "net_impl.h"

double sgld_net_loglik(const sgld_net *net, const float *y, size_t n, float *dout)
{
    const int K = net->L.n_out;
    const float *z = net->act[net->L.n_layers];
    double ll = 0.0;
    switch (net->loss) {
    case SGLD_NET_SOFTMAX:
        for (size_t i = 0; i < n; i++) {
            const float *zi = z + i * K;
            double mx = zi[0];
            for (int k = 1; k < K; k++) mx = zi[k] > mx ? zi[k] : mx;
            double s = 0.0;
            for (int k = 0; k < K; k++) s += exp(zi[k] - mx);
            double lse = mx + log(s);
            int c = (int)y[i];
            ll += zi[c] - lse;
            if (dout)
                for (int k = 0; k < K; k++) dout[i * K + k] = (float)((k == c) - exp(zi[k] - lse));
        }
        break;
    case SGLD_NET_GAUSS: {
        const double prec = 1.0 / (net->noise_sd * net->noise_sd);
        const double lognorm = log(net->noise_sd * 2.5066282746310002);
        for (size_t i = 0; i < n; i++) {
            double r = (double)y[i] - z[i];
            ll -= 0.5 * prec * r * r + lognorm;
            if (dout) dout[i] = (float)(prec * r);
        }
        break;
    }
    case SGLD_NET_HETERO:
        for (size_t i = 0; i < n; i++) {
            double r = (double)y[i] - z[2 * i], v = z[2 * i + 1], iv = exp(-v);
            ll -= 0.5 * (1.8378770664093453 + v + r * r * iv);
            if (dout) {
                dout[2 * i] = (float)(r * iv);
                dout[2 * i + 1] = (float)(0.5 * (r * r * iv - 1.0));
            }
        }
        break;
    }
    return ll;
}
