/* main_dist.c - the sgld-dist executable: sgld_main (sgld_dist.c, in libsgld), with the stop
 * handlers installed before anything else runs. */
#include "sgld/main.h"
#include "sgld/run.h"

/* The stop handlers go in at the earliest moment a program's own code can run: from the
 * executable's .preinit_array, after the dynamic loader has mapped the libraries but before
 * any of their constructors (OpenBLAS starts its threads there) and long before MPI_Init and
 * HDF5.  A stop signal from then on gives what it gives mid-run (exit 3 after the first step,
 * draws flushed, checkpoint saved).  One that arrives while the loader is still mapping
 * (the first tens of milliseconds, more on a loaded machine) meets the default action: the
 * process is killed (status 143 for SIGTERM) before it has opened or written anything.  It
 * lives here and not beside sgld_main because the linker refuses a .preinit_array in a
 * shared library; sgld_main installs the handlers itself when no loader ran this (not every
 * loader runs .preinit_array). */
static void install_stop_handlers(int argc, char **argv, char **envp)
{
    (void)argc, (void)argv, (void)envp;
    sgld_run_signals(1);
}
__attribute__((section(".preinit_array"), used)) static void (*const preinit_stop_handlers)(int, char **, char **) =
    install_stop_handlers;

int main(int argc, char **argv)
{
    return sgld_main(argc, argv);
}
