/* SPDX-License-Identifier: MIT */
/*
 * httpd.h - what weft-httpd's files share: the settings, the server's
 * state, the cached Date header and the access log.
 */
#ifndef WEFT_HTTPD_H
#define WEFT_HTTPD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "http_parse.h"

struct httpd_opts {
    const char *bind;       /* host name or literal; "0.0.0.0" by default */
    int port;               /* 0: any free port (printed at start) */
    const char *root;       /* document root; NULL: only /plaintext */
    int workers;            /* 0: one per CPU */
    long max_conns;         /* connections served at once */
    const char *access_log; /* file, "-" for stdout, NULL: none */
    int64_t header_timeout; /* ns for a whole request head (and body) */
    int64_t idle_timeout;   /* ns a kept-alive connection may idle */
    int64_t write_timeout;  /* ns for each response to be taken */
    int64_t grace;          /* ns requests in flight get at a stop */
    size_t max_line;        /* request line, bytes */
    size_t max_head;        /* request head, bytes */
    int64_t max_body;       /* request body, bytes */
};

/* One connection; on the server's list while its fiber runs. */
struct conn {
    int fd;
    bool idle;                /* waiting for a request; srv.lock */
    struct conn *prev, *next; /* srv.lock */
    char peer[64];
};

struct server {
    struct httpd_opts o;
    char root[4096]; /* realpath of o.root, no trailing '/' ("" for "/") */
    bool has_root;
    int lfd;
    pthread_mutex_t lock; /* the list, `stopping` as seen by the list */
    struct conn *conns;   /* lock */
    long nconns;          /* lock */
    atomic_bool stopping; /* set once, under lock too */
    FILE *log;
    pthread_mutex_t log_lock; /* held for one fwrite, never across a yield */
};

extern struct server srv;

/* The current Date value (29 bytes and a NUL into out[30]). */
void httpd_date(char out[30]);
/* Format the current time into the cache (the clock fiber, once a
 * second, and once at start). */
void httpd_date_refresh(void);

/* The fiber of one accepted connection: serves it until it closes, then
 * drops it (httpd_conn_drop). */
void *httpd_conn_main(void *c);

/* Take c off the server's list, close its descriptor and free it. */
void httpd_conn_drop(struct conn *c);

#endif
