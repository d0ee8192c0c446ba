/*
 * The agent's HTTP endpoint (libmicrohttpd, its own polling thread): GET only,
 * other methods get 405; connections time out; the handler renders the reply
 * while the agent's state is locked (agent.c).
 */
#ifndef ARENATRACE_HTTP_SERVER_H
#define ARENATRACE_HTTP_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

struct http_reply {
	unsigned status;
	const char *content_type;
	const char *content_encoding;   /* NULL or "gzip" */
	char *body;                     /* malloc'ed; the server frees it */
	size_t len;
};

struct http_request {
	void *conn;
};

/* A query argument of the request (?key=value), NULL if absent. */
const char *http_request__arg(const struct http_request *req, const char *key);

/* Fills r for a GET of path (query string removed). */
typedef void (*http_handler_fn)(void *cookie, const char *path, const struct http_request *req,
				struct http_reply *r);

struct http_server;

/* "HOST:PORT", "[V6ADDR]:PORT" or ":PORT" (loopback). 0, or -1 with why in err. */
int http_server__parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
			      size_t errlen);
/* Binds and starts serving; NULL with why in err (address in use, not local, ...). */
struct http_server *http_server__start(const char *listen, unsigned timeout_s, http_handler_fn fn,
				       void *cookie, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
unsigned http_server__port(const struct http_server *h);
void http_server__stop(struct http_server *h);

#endif
