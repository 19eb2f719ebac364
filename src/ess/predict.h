/* predict.h - `sgld-ess predict` (predict.c), dispatched from sgld_ess.c. */
#ifndef SGLD_ESS_PREDICT_H
#define SGLD_ESS_PREDICT_H

#include <mpi.h>

/* Runs `sgld-ess predict` with argv[1] = "predict"; returns the exit status (0, 1 or 2, the
 * same on every rank).  Collective over comm. */
int sgld_ess_predict(int argc, char **argv, MPI_Comm comm);

#endif
