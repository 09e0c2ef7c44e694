/* Reading the payload of a syscall from user memory: the stashed arguments,
 * protocol sniffing on the first bytes, and the bounded copy into a scratch
 * event. Kernel side only. */
#ifndef SIGHTLINE_BPF_LIB_PAYLOAD_H
#define SIGHTLINE_BPF_LIB_PAYLOAD_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "sightline/bpf/sockets.h"

struct io_args {
	__u64 buf; /* buffer, or iovec array */
	__u32 fd;
	__u32 iovcnt; /* 0 for a flat buffer */
	__u8 syscall;
	__u8 direction;
	__u8 _pad[6];
};

/* State of an iovec walk. It lives in the scratch map value rather than on
 * the stack: the verifier sees its fields as unknown scalars from the first
 * bpf_loop step on, so the steps converge instead of being explored one by one. */
struct iov_walk {
	__u64 iov;   /* user address of the iovec array */
	__u64 count; /* iovecs in the array */
	__u64 want;  /* bytes to capture */
	__u64 total; /* bytes the syscall moved */
	__u64 off;   /* bytes captured so far */
	__u64 seen;  /* bytes accounted to iovecs so far */
};

struct data_scratch {
	struct sl_data_event ev;
	/* Twice the capture maximum, so that offset + length stays in bounds
	 * for the verifier even before the length is clamped. */
	__u8 buf[2 * SL_MAX_CAPTURE]; /* must follow ev: the two go out as one event */
	struct iov_walk walk;
};

/* First user buffer of the call: the buffer itself, or the first iovec's base. */
static __always_inline __u64 first_buffer(const struct io_args *a)
{
	if (!a->iovcnt)
		return a->buf;
	struct iovec iov = {};
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)a->buf))
		return 0;
	return (__u64)iov.iov_base;
}

static __always_inline bool is_method(__u32 w)
{
	/* First four bytes, little-endian, of every HTTP/1 request method
	 * and of a status line. */
	switch (w) {
	case 0x20544547: /* "GET " */
	case 0x54534f50: /* "POST" */
	case 0x20545550: /* "PUT " */
	case 0x44414548: /* "HEAD" */
	case 0x454c4544: /* "DELE" */
	case 0x43544150: /* "PATC" */
	case 0x4954504f: /* "OPTI" */
	case 0x4e4e4f43: /* "CONN" */
	case 0x43415254: /* "TRAC" */
	case 0x50545448: /* "HTTP" */
		return true;
	}
	return false;
}

/* A PostgreSQL startup packet: int32 length (the server refuses more than
 * 10000 bytes) and an int32 code: protocol 3.0, or SSLRequest,
 * GSSENCRequest or CancelRequest (80877103, 80877104, 80877102). */
static __always_inline bool is_pg_startup(const __u8 *b)
{
	if (b[0] || b[1] || b[2] > 0x27)
		return false;
	if (b[4] == 0 && b[5] == 3 && b[6] == 0 && b[7] == 0)
		return true;
	return b[4] == 0x04 && b[5] == 0xd2 && b[6] == 0x16 && b[7] >= 0x2e && b[7] <= 0x30;
}

static __always_inline bool is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

/* Mid-stream PostgreSQL message of a connection open before we started:
 * a type byte and the top bytes of an int32 length under 64 KiB. */
static __always_inline bool is_pg_message(const __u8 *b)
{
	if (b[1] || b[2])
		return false;
	switch (b[0]) {
	case 'Q': case 'P': case 'B': case 'E': case 'S': case 'X': /* frontend */
	case 'Z': case 'T': case 'D': case 'C': case '1': case '2': /* backend */
		return true;
	}
	return false;
}

/* Mid-stream RESP: a command array, or a reply whose shape is unmistakable. */
static __always_inline bool is_resp_reply(const __u8 *b)
{
	switch (b[0]) {
	case '+': case '-':
		return b[1] >= 'A' && b[1] <= 'Z';
	case ':': case '$':
		return is_digit(b[1]) || b[1] == '-';
	}
	return false;
}

/* Classifies a connection from the first bytes seen on it. `midlife`: the
 * connection was open before we started, so the bytes may be anywhere in a
 * conversation. */
static __always_inline __u8 sniff(const struct io_args *a, long len, bool midlife)
{
	__u64 p = first_buffer(a);
	__u8 b[8] = {};
	if (!p)
		return SL_PROTO_UNKNOWN;
	if (len >= 4) {
		/* The first iovec may be shorter than the call: a failed 8-byte
		 * read falls back to 4. */
		bool eight = len >= 8 && bpf_probe_read_user(b, 8, (void *)p) == 0;
		if (!eight && bpf_probe_read_user(b, 4, (void *)p))
			return SL_PROTO_UNKNOWN;
		__u32 w;
		__builtin_memcpy(&w, b, 4);
		if (is_method(w))
			return SL_PROTO_HTTP1;
		if (w == 0x20495250) /* "PRI ": the HTTP/2 connection preface */
			return SL_PROTO_HTTP2;
		/* A TLS record: content type 20-23 (change_cipher_spec, alert,
		 * handshake, application_data), protocol version 3.x. */
		if (b[0] >= 20 && b[0] <= 23 && b[1] == 3 && b[2] <= 4)
			return SL_PROTO_TLS;
		if (eight && is_pg_startup(b))
			return SL_PROTO_POSTGRES;
		if (b[0] == '*' && is_digit(b[1]))
			return SL_PROTO_REDIS;
		if (midlife && is_pg_message(b))
			return SL_PROTO_POSTGRES;
		if (midlife && is_resp_reply(b))
			return SL_PROTO_REDIS;
		return SL_PROTO_OTHER;
	}
	/* A message dribbled out a byte or two at a time, or a one-byte peek:
	 * judge by its first byte (22 opens a TLS handshake record). */
	if (bpf_probe_read_user(b, 1, (void *)p))
		return SL_PROTO_UNKNOWN;
	if (b[0] >= 20 && b[0] <= 23)
		return SL_PROTO_TLS;
	switch (b[0]) {
	case 'G': case 'P': case 'H': case 'D': case 'O': case 'C': case 'T':
		return SL_PROTO_HTTP1;
	}
	return SL_PROTO_OTHER;
}

/* Whether the call's bytes open a TLS handshake record: a PostgreSQL client
 * whose SSLRequest the server accepted goes on in TLS. */
static __always_inline bool starts_tls_handshake(const struct io_args *a)
{
	__u64 p = first_buffer(a);
	__u8 b[2] = {};
	if (!p || bpf_probe_read_user(b, 2, (void *)p))
		return false;
	return b[0] == 22 && b[1] == 3;
}


/* One iovec per bpf_loop step: a writev of many small pieces (a chunked
 * response is three iovecs per chunk) would not fit an unrolled loop. */
struct iov_step_ctx {
	struct data_scratch *sc;
};

static long iov_step(__u32 i, void *ctx)
{
	struct data_scratch *sc = ((struct iov_step_ctx *)ctx)->sc;
	struct iov_walk *w = &sc->walk;
	if (i >= w->count || w->seen >= w->total || w->off >= w->want)
		return 1;
	struct iovec iov = {};
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(w->iov + (__u64)i * sizeof(iov))))
		return 1;
	__u64 len = iov.iov_len;
	if (len > w->total - w->seen)
		len = w->total - w->seen; /* a short read fills the first iovecs only */
	w->seen += len;
	__u64 n = w->want - w->off;
	if (n > len)
		n = len;
	/* Bounds the verifier can follow: o < SL_MAX_CAPTURE and
	 * n <= SL_MAX_CAPTURE, inside a buffer of twice that. */
	__u64 o = w->off & (SL_MAX_CAPTURE - 1);
	barrier_var(n);
	if (n > SL_MAX_CAPTURE)
		n = SL_MAX_CAPTURE;
	if (n && bpf_probe_read_user(&sc->buf[o], n, iov.iov_base))
		return 1;
	w->off += n;
	return 0;
}

/* Copies up to `want` bytes of the call's buffers into `sc->buf` and returns
 * the number copied. *iov_cut gets the bytes that sat in iovecs past
 * SL_MAX_IOV, which were never looked at. */
static __always_inline __u32 copy_payload(struct data_scratch *sc, const struct io_args *a,
					  __u64 want, __u64 total, __u64 *iov_cut)
{
	*iov_cut = 0;
	if (!a->iovcnt) {
		__u64 n = want;
		barrier_var(n); /* keep the clamp on the register the helper gets */
		if (n > SL_MAX_CAPTURE)
			n = SL_MAX_CAPTURE;
		if (n && bpf_probe_read_user(sc->buf, n, (void *)a->buf))
			return 0;
		return n;
	}
	struct iov_walk *w = &sc->walk;
	w->iov = a->buf;
	w->count = a->iovcnt;
	w->want = want;
	w->total = total;
	w->off = 0;
	w->seen = 0;
	struct iov_step_ctx ctx = {.sc = sc};
	bpf_loop(SL_MAX_IOV, iov_step, &ctx, 0);
	if (a->iovcnt > SL_MAX_IOV && w->off < want && w->seen < total)
		*iov_cut = total - w->seen;
	return w->off;
}

#endif
