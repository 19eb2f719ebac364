# large_n_stan.R - Stan NUTS (rstan, Debian r-cran-rstan) on tools/bench/large-n's data set.
#   Rscript large_n_stan.R RAW_PREFIX N PRIOR_SD CHAINS ITER WARMUP SEED OUT_DIR
# Reads RAW_PREFIX.X.f32 (column-major float32 [N, 20]) and RAW_PREFIX.y.u8, compiles the model
# (timed alone), samples CHAINS chains in parallel (cores = CHAINS), and writes to OUT_DIR:
#   draws.csv   chain, draw, alpha, beta.1 .. beta.20 (post-warmup draws)
#   times.txt   `key value` lines: compile_s, read_s, sample_s (wall, seconds), the per-chain
#               warmup/sample CPU seconds Stan reports (it times with clock()), divergences,
#               rstan's min n_eff and max Rhat
# The model is sgld-dist's logreg exactly: P(y = 1 | x) = inv_logit(alpha + x . beta) with
# alpha, beta_j ~ N(0, PRIOR_SD^2) (src/model/logreg.c: b and w).
suppressPackageStartupMessages(library(rstan))
a <- commandArgs(trailingOnly = TRUE)
if (length(a) != 8) stop("usage: large_n_stan.R RAW_PREFIX N PRIOR_SD CHAINS ITER WARMUP SEED OUT_DIR")
raw <- a[1]; n <- as.integer(a[2]); prior_sd <- as.numeric(a[3]); chains <- as.integer(a[4])
iter <- as.integer(a[5]); warmup <- as.integer(a[6]); seed <- as.integer(a[7]); out <- a[8]
d <- 20L

code <- "
data {
  int<lower=1> N;
  int<lower=1> K;
  matrix[N, K] X;
  int<lower=0, upper=1> y[N];
  real<lower=0> prior_sd;
}
parameters {
  real alpha;
  vector[K] beta;
}
model {
  alpha ~ normal(0, prior_sd);
  beta ~ normal(0, prior_sd);
  y ~ bernoulli_logit_glm(X, alpha, beta);
}
"
t0 <- Sys.time()
model <- stan_model(model_code = code, model_name = "largen_logreg")
compile_s <- as.numeric(Sys.time() - t0, units = "secs")

t0 <- Sys.time()
X <- matrix(readBin(paste0(raw, ".X.f32"), "numeric", n = n * d, size = 4, endian = "little"), nrow = n)
y <- readBin(paste0(raw, ".y.u8"), "integer", n = n, size = 1, signed = FALSE)
if (length(y) != n || nrow(X) != n) stop(sprintf("%s: expected %d rows", raw, n))
read_s <- as.numeric(Sys.time() - t0, units = "secs")

t0 <- Sys.time()
fit <- sampling(model, data = list(N = n, K = d, X = X, y = y, prior_sd = prior_sd),
                chains = chains, iter = iter, warmup = warmup, cores = chains, seed = seed,
                refresh = 0)
sample_s <- as.numeric(Sys.time() - t0, units = "secs")

arr <- as.array(fit, pars = c("alpha", "beta"))  # [iteration, chain, parameter]
rows <- do.call(rbind, lapply(seq_len(dim(arr)[2]), function(c)
  cbind(chain = c - 1, draw = seq_len(dim(arr)[1]) - 1, arr[, c, ])))
colnames(rows) <- c("chain", "draw", "alpha", paste0("beta.", seq_len(d)))
write.csv(rows, file.path(out, "draws.csv"), row.names = FALSE)

el <- get_elapsed_time(fit)
s <- summary(fit, pars = c("alpha", "beta"))$summary
div <- sum(get_divergent_iterations(fit))
lines <- c(sprintf("compile_s %.2f", compile_s), sprintf("read_s %.2f", read_s),
           sprintf("sample_s %.2f", sample_s),
           sprintf("chain_warmup_s %s", paste(sprintf("%.2f", el[, "warmup"]), collapse = ",")),
           sprintf("chain_sample_s %s", paste(sprintf("%.2f", el[, "sample"]), collapse = ",")),
           sprintf("divergences %d", div), sprintf("rstan_min_n_eff %.0f", min(s[, "n_eff"])),
           sprintf("rstan_max_rhat %.4f", max(s[, "Rhat"])))
writeLines(lines, file.path(out, "times.txt"))
