/* SPDX-License-Identifier: MIT */
/*
 * tests/inspect/stack_shown.h - for test_inspect.c and gdb_target.c:
 * whether a fiber dump shows a named fiber parked with its stack.
 */
#ifndef WEFT_TESTS_INSPECT_STACK_SHOWN_H
#define WEFT_TESTS_INSPECT_STACK_SHOWN_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <weft.h>

/* Whether a dump (wf_fibers_dump, into a temporary file) shows fiber
 * `name` parked with its stack saved. The fiber list, and a dump's line
 * for the fiber, call it parked from the moment it has recorded its wait,
 * while it may still be switching away on its worker (a debugger then
 * sees it running there, without a saved stack); its frames, or "no frame
 * pointers", follow its line only once it has left (src/core/inspect.c,
 * describe). False also when the dump cannot be made. */
static inline bool wt_stack_shown(const char *name)
{
    static char buf[1 << 16];
    FILE *f = tmpfile();
    if (!f)
        return false;
    bool dumped = wf_fibers_dump(fileno(f)) >= 1;
    rewind(f);
    size_t n = dumped ? fread(buf, 1, sizeof buf - 1, f) : 0;
    fclose(f);
    buf[n] = '\0';
    char head[64];
    snprintf(head, sizeof head, "\"%s\" [parked: ", name);
    const char *at = strstr(buf, head), *nl = at ? strchr(at, '\n') : NULL;
    return nl && strncmp(nl + 1, "  ", 2) == 0;
}

#endif
