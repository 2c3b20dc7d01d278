/* SPDX-License-Identifier: MIT */
/*
 * weft.h - the one include for users of weft.
 *
 * weft gives C programs three ways of doing many things at once:
 * concurrency (fibers on an M:N work-stealing scheduler), parallelism and
 * asynchrony. Each subsystem has its own header under weft/; this file
 * includes them all.
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/common.h"
#include "weft/runtime.h"
#include "weft/fiber.h"
#include "weft/timer.h"
#include "weft/queue.h"
#include "weft/sync.h"
#include "weft/par.h"
#include "weft/future.h"
#include "weft/io.h"
#include "weft/chan.h"
#include "weft/inspect.h"
#include "weft/trace.h"

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

#endif
