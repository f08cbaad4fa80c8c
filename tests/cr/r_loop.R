# r_loop: R, a real program nobody here wrote.  A seeded random walk of
# linear algebra: STEPS times, a 150x150 matrix of normal draws, its
# cross product solved against a vector, the solution folded into a running
# sum; a data frame grows by a row a step and an environment keeps a
# count, so the heap is busy.  With one seed the result is the same on
# every run.  Prints "RESULT <sum> <rows>" and PASS.  Run as
# `Rscript tests/cr/r_loop.R [STEPS]`.
args <- commandArgs(trailingOnly = TRUE)
steps <- if (length(args) > 0) as.integer(args[1]) else 400
set.seed(20261207)
acc <- 0
rows <- data.frame(i = integer(0), s = numeric(0))
seen <- new.env()
for (i in seq_len(steps)) {
	m <- matrix(rnorm(150 * 150), 150)
	x <- solve(crossprod(m) + diag(150), rep(1, 150))
	acc <- acc + sum(x) / i
	rows[nrow(rows) + 1, ] <- list(i, sum(x))
	key <- as.character(i %% 17)
	assign(key, (if (exists(key, envir = seen, inherits = FALSE)) get(key, envir = seen) else 0) + 1, envir = seen)
	if (i %% 50 == 0)
		cat("r_loop: step", i, "\n")
	Sys.sleep(0.02)
}
stopifnot(nrow(rows) == steps, sum(unlist(mget(ls(seen), envir = seen))) == steps)
cat(sprintf("RESULT %.12e %d\n", acc, nrow(rows)))
cat("PASS\n")
