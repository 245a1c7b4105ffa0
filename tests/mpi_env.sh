# Sourced by the MPI tests (tests/train/mpi.sh, mpi_fail.sh, tests/explain/mpi.sh): exits 77 with
# the reason when vmaskc was built without MPI ($1 = 0) or mpirun is missing, and sets `mpi` to the
# mpirun command line (oversubscribed: CI machines have few cores; --allow-run-as-root under root).
[ "${1:-0}" = 1 ] || { echo "skip: vmaskc was built without MPI (install libopenmpi-dev and reconfigure)"; exit 77; }
command -v mpirun >/dev/null 2>&1 || { echo "skip: mpirun not found (apt-get install openmpi-bin)"; exit 77; }
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi=(mpirun --oversubscribe --allow-run-as-root)
# Under ASan (tools/test-all.sh): Open MPI's libraries keep allocations until exit (suppressed in
# tests/lsan.supp by library name), which needs full stacks and its plugins kept loaded.
export OMPI_MCA_mca_base_component_disable_dlclose=1
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
