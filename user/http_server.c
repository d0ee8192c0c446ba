#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>
#include "http_server.h"

/* At most this many clients at once: scrapers, not the public. */
#define HTTP_MAX_CONNECTIONS 16

struct http_server {
	struct MHD_Daemon *d;
	int fd;
	unsigned port;
	http_handler_fn fn;
	void *cookie;
};

int http_server__parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
			      size_t errlen)
{
	char host[256];
	const char *colon, *port_s;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res = NULL;
	char *end;
	long port;
	int rc;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host)) {
			snprintf(err, errlen, "'%s' is not [IPV6]:PORT", s);
			return -1;
		}
		memcpy(host, s + 1, close - s - 1);
		host[close - s - 1] = '\0';
		port_s = close + 2;
		hints.ai_family = AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host) || memchr(s, ':', colon - s)) {
			snprintf(err, errlen, "'%s' is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464 or :9464)", s);
			return -1;
		}
		memcpy(host, s, colon - s);
		host[colon - s] = '\0';
		port_s = colon + 1;
	}
	errno = 0;
	port = strtol(port_s, &end, 10);
	if (errno || end == port_s || *end || port < 0 || port > 65535) {
		snprintf(err, errlen, "'%s': the port must be a number in 0..65535", s);
		return -1;
	}
	/* No address named: loopback, never every interface by accident. */
	if (!host[0])
		strcpy(host, "127.0.0.1");
	rc = getaddrinfo(host, port_s, &hints, &res);
	if (rc || !res) {
		snprintf(err, errlen, "'%s': cannot resolve '%s': %s", s, host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, unsigned status, const char *type,
				  const char *encoding, void *body, size_t len, bool allow_header)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (encoding)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, encoding);
	if (allow_header)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

const char *http_request__arg(const struct http_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static char *text(const char *s, size_t *len)
{
	*len = strlen(s);
	return strdup(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http_server *h = cls;
	struct http_reply r = { .status = 200 };
	size_t len = 0;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET)) {
		/* Answer at once; a body sent along is not read (MHD closes the connection). */
		*upload_data_size = 0;
		return send_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", NULL,
				  text("method not allowed: this endpoint serves GET only\n", &len), len, true);
	}
	/* A GET with a body: wait until it is consumed (ignored), then answer. */
	if (!*con_cls) {
		*con_cls = h;
		if (*upload_data_size)
			*upload_data_size = 0;
		else
			goto answer;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
answer:
	{
		struct http_request req = { .conn = c };

		h->fn(h->cookie, url, &req, &r);
	}
	if (!r.body) {
		r.body = text(r.status == 404 ? "not found\n" : "internal error\n", &r.len);
		r.content_type = "text/plain; charset=utf-8";
	}
	return send_reply(c, r.status, r.content_type, r.content_encoding, r.body, r.len, false);
}

struct http_server *http_server__start(const char *listen_s, unsigned timeout_s, http_handler_fn fn,
				       void *cookie, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct http_server *h;
	int one = 1;

	if (http_server__parse_listen(listen_s, &ss, &sl, err, errlen))
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->fd = -1;
	h->fn = fn;
	h->cookie = cookie;
	/* Our own socket: bind errors are ours to explain. */
	h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(h->fd, (struct sockaddr *)&ss, sl) || listen(h->fd, 64)) {
		int e = errno;

		snprintf(err, errlen, "cannot listen on %s: %s%s", listen_s, strerror(e),
			 e == EADDRINUSE ? " (another program has that port: pick another with --listen)"
			 : e == EADDRNOTAVAIL ? " (not an address of this machine)"
			 : e == EACCES ? " (a port below 1024 needs CAP_NET_BIND_SERVICE)" : "");
		goto fail;
	}
	{
		struct sockaddr_storage b;
		socklen_t bl = sizeof(b);

		if (!getsockname(h->fd, (struct sockaddr *)&b, &bl))
			h->port = ntohs(b.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&b)->sin6_port
							       : ((struct sockaddr_in *)&b)->sin_port);
	}
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
				(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, on_request, h,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->fd,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)timeout_s,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
				MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errlen, "cannot start the HTTP server on %s", listen_s);
		goto fail;
	}
	return h;
fail:
	if (h->fd >= 0)
		close(h->fd);
	free(h);
	return NULL;
}

unsigned http_server__port(const struct http_server *h)
{
	return h->port;
}

void http_server__stop(struct http_server *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	close(h->fd);
	free(h);
}
