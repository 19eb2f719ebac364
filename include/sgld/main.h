/* main.h - the whole sgld-dist program as one library call, for a program of one's own that
 * registers its models and samplers (sgld_model_register, sgld_sampler_register) and then
 * hands over:
 *
 *   int main(int argc, char **argv)
 *   {
 *       if (sgld_model_register(&my_model) != SGLD_OK) return 1;
 *       return sgld_main(argc, argv);
 *   }
 *
 * The program then takes every option, file and signal that sgld-dist takes (sgld-dist(1)),
 * and --model my_model. */
#ifndef SGLD_MAIN_H
#define SGLD_MAIN_H

/* Parses argv (argv[0] is the program; the options are sgld-dist's), runs and reports as
 * sgld-dist does, and returns sgld-dist's exit status: 0 success, 2 bad input or usage, 1 any
 * other failure, 3 stopped by SIGTERM, SIGINT or SIGUSR1 after flushing the draws and saving
 * --checkpoint (to be continued with --resume).  Only rank 0 prints.
 *
 * Collective over MPI_COMM_WORLD.  Calls MPI_Init when MPI is not initialized yet, and then
 * MPI_Finalize before returning; when the caller initialized MPI, it is left initialized (and
 * must not have been finalized).  Installs sgld-dist's stop handlers (sgld_run_signals(1),
 * sgld/run.h) and leaves them installed; sgld_run_signals(0) restores the previous ones.
 * Never exits or aborts. */
int sgld_main(int argc, char **argv);

#endif
