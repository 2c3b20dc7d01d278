/* SPDX-License-Identifier: MIT */
/*
 * Signals as events a fiber can wait on (weft/io.h): a signalfd read
 * through the reactor.
 *
 * Each wait opens a signalfd for its set, reads one siginfo with wf_read
 * (so it parks the fiber and honours deadline and cancellation like any
 * descriptor) and closes it. Opening one per wait costs two system calls
 * but keeps no state between waits and lets waits with different sets
 * coexist; a signal that arrives while nobody waits stays pending (it is
 * blocked) and is taken by the next wait.
 *
 * The signals must be blocked in every thread, or the kernel may deliver
 * one the ordinary way to a thread that has it unblocked. Threads inherit
 * the mask of their creator, and weft's threads are created by wf_init's
 * caller or by its workers, so blocking the set in the main thread before
 * wf_init / wf_run (wf_signal_block) covers them all. signalfd reports
 * the signals pending for the process and for the reading thread; a
 * fiber may run on any worker, so only process-directed signals (kill,
 * the terminal) are meant to be waited for.
 */
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/fault.h"
#include "reactor.h"
#include "weft/io.h"

int wf_signal_block(const sigset_t *set)
{
    if (!set)
        return WF_EINVAL;
    int rc = pthread_sigmask(SIG_BLOCK, set, NULL);
    return rc ? -rc : 0;
}

int wf_signal_wait(const sigset_t *set, int64_t deadline)
{
    if (!set || sigisemptyset(set))
        return WF_EINVAL;
    int fd = wf__fd(signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (fd < 0)
        return -errno;
    wf__iofd_renew(fd);
    struct signalfd_siginfo si;
    ssize_t r = wf_read(fd, &si, sizeof si, deadline);
    wf_close(fd);
    if (r < 0)
        return (int)r;
    if (r != sizeof si)
        return -EIO;
    return (int)si.ssi_signo;
}
