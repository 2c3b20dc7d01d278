/* SPDX-License-Identifier: MIT */
/*
 * The async layer's share of runtime shutdown (see async_int.h).
 *
 * wf_shutdown calls wf__async_shutdown once the runtime is STOPPING (so no
 * pool or reactor can start again: their lazy starts check the state under
 * their own start lock) and before the workers stop, because pool and
 * reactor threads wake fibers, which must not happen once the workers and
 * the fibers' stacks are gone. The pool goes first: its calls may still
 * wait on descriptors.
 */
#include "async_int.h"

void wf__async_shutdown(void)
{
    wf__pool_shutdown();
    wf__reactor_shutdown();
}
