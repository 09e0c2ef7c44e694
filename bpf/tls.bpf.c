// SPDX-License-Identifier: GPL-2.0
/* Plaintext of TLS sessions, read where the application hands it to its TLS
 * library or gets it back: uprobes on OpenSSL's SSL_read/SSL_write (and the
 * _ex forms) and on Go's crypto/tls (*Conn).Read/Write.
 *
 * Each session (an SSL* or a *tls.Conn in its process) is tied to the
 * socket-probe connection that carries its ciphertext, so its plaintext is
 * parsed on that connection with the addresses and role the socket probe
 * saw. The socket probe marks such connections TLS and never captures their
 * ciphertext, so nothing is counted twice. This object is loaded with the
 * socket probe's maps (events, fds, tls_threads, tls_sessions). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "lib/shared.bpf.h"
#include "sightline/bpf/sockets.h"
#include "sightline/bpf/tls.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace between open and load. */
const volatile __u32 self_tgid = 0;
const volatile __u32 capture_size = 65536; /* plaintext bytes captured per call */
const volatile __u64 wakeup_bytes = 256 * 1024;
const volatile __u8 filter_pids = 0; /* only tgids in pid_allow */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_TLS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tls_counters SEC(".maps");

struct tls_scratch {
	struct sl_tls_data_event ev;
	__u8 buf[SL_MAX_CAPTURE]; /* must follow ev: the two go out as one event */
};

/* One slot per CPU, indexed by CPU id; userspace sizes it to the CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_scratch);
} tls_scratch SEC(".maps");

/* Go calls in flight, by goroutine: a goroutine that blocks in Read may
 * resume on another thread, so the thread is not the key. */
struct go_key {
	__u64 goroutine; /* the g pointer, kept in R14 by Go's register ABI */
	__u32 tgid;
	__u32 _pad;
};

struct go_call {
	__u64 conn; /* *tls.Conn */
	__u64 buf;
	__u64 len;
	__u8 dir;
	__u8 _pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&tls_counters, &idx);
	if (v)
		*v += n;
}

/* ---- emitting plaintext ---- */

struct piece_ctx {
	struct tls_scratch *sc;
	__u64 buf;   /* user address of the plaintext */
	__u64 total; /* bytes the call moved */
	__u64 want;  /* bytes to capture: min(total, capture_size) */
	__u64 seq;
	__u64 pid_tgid;
	__u64 tls_id;
	__u64 conn_id;
	__u32 fd;
	__u8 dir;
	__u8 library;
};

/* One event of at most SL_MAX_CAPTURE bytes per step. The last one also
 * stands for the bytes past the capture size. */
static long emit_piece(__u32 i, void *ctx)
{
	struct piece_ctx *p = ctx;
	struct tls_scratch *sc = p->sc;
	__u64 off = (__u64)i * SL_MAX_CAPTURE;
	if (off >= p->want)
		return 1;
	__u64 len = p->want - off;
	if (len > SL_MAX_CAPTURE)
		len = SL_MAX_CAPTURE;
	__u64 orig = off + len >= p->want ? p->total - off : len;
	barrier_var(len);
	if (len > SL_MAX_CAPTURE)
		len = SL_MAX_CAPTURE;
	__u32 cap = len;
	if (bpf_probe_read_user(sc->buf, len, (void *)(p->buf + off))) {
		count(SL_TLS_CNT_LOST_READ_FAILED, 1);
		cap = 0;
	}
	struct sl_tls_data_event *e = &sc->ev;
	fill_header(&e->hdr, SL_EVENT_TLS_DATA, sizeof(*e) + cap, p->pid_tgid);
	e->conn_id = p->conn_id;
	e->tls_id = p->tls_id;
	e->seq = p->seq + off;
	e->orig_len = orig;
	e->cap_len = cap;
	e->fd = p->fd;
	e->direction = p->dir;
	e->library = p->library;
	e->_pad[0] = 0;
	e->_pad[1] = 0;
	__u64 size = sizeof(*e) + cap;
	barrier_var(size);
	if (size > sizeof(*sc))
		return 1;
	if (bpf_ringbuf_output(&events, sc, size, sl_ringbuf_flags(wakeup_bytes)))
		count(SL_TLS_CNT_LOST_RINGBUF_FULL, 1);
	return 0;
}

/* The session's state, created on first use. */
static __always_inline struct tls_session *session_of(__u32 tgid, __u64 tls_id)
{
	struct tls_key k = {.tls_id = tls_id, .tgid = tgid};
	struct tls_session *s = bpf_map_lookup_elem(&tls_sessions, &k);
	if (s)
		return s;
	struct tls_session fresh = {};
	bpf_map_update_elem(&tls_sessions, &k, &fresh, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&tls_sessions, &k);
	if (!s)
		count(SL_TLS_CNT_LOST_STATE_FULL, 1);
	return s;
}

/* Ties the session to the tracked TCP socket `fd1 - 1`. A session object
 * found on another connection than before was reused: its streams restart.
 * Returns false when the socket is one the socket probe was told to ignore
 * (filtered by pid, port or executable): its plaintext is not wanted either. */
static __always_inline bool bind_socket(struct tls_session *s, __u32 tgid, __u32 fd1)
{
	if (!fd1)
		return true;
	__u64 key = fd_key(tgid, fd1 - 1);
	struct fd_state *fs = bpf_map_lookup_elem(&fds, &key);
	if (!fs)
		return true;
	if (fs->kind == FD_FILTERED)
		s->filtered = 1;
	if (fs->kind != FD_TCP)
		return false;
	if (fs->conn_id == s->conn_id)
		return true;
	if (fs->protocol != SL_PROTO_TLS && fs->protocol != SL_PROTO_UNKNOWN)
		return true;
	if (s->conn_id) {
		s->seq[0] = 0;
		s->seq[1] = 0;
	}
	s->conn_id = fs->conn_id;
	s->fd = fd1 - 1;
	return true;
}

static __always_inline void on_plaintext(__u64 pid_tgid, __u64 tls_id, __u64 buf, __u64 n,
					 __u8 dir, __u32 fd1, __u8 library, struct tls_thread *t)
{
	__u32 tgid = pid_tgid >> 32;
	struct tls_session *s = session_of(tgid, tls_id);
	if (!s || s->filtered)
		return;
	/* A read served from a memory BIO: the ciphertext came in on the
	 * socket this thread read last. */
	if (!fd1 && !s->conn_id && t && dir == SL_DIR_INGRESS)
		fd1 = t->last_read_fd1;
	if (!bind_socket(s, tgid, fd1))
		return;
	if (!s->conn_id) {
		count(SL_TLS_CNT_UNBOUND, 1);
		if (t && dir == SL_DIR_EGRESS)
			t->pending_write = tls_id; /* bound by the socket probe at the write */
	}
	dir &= 1;
	__u64 seq = s->seq[dir];
	s->seq[dir] = seq + n;

	__u32 cpu = bpf_get_smp_processor_id();
	struct tls_scratch *sc = bpf_map_lookup_elem(&tls_scratch, &cpu);
	if (!sc)
		return;
	__u64 want = n < capture_size ? n : capture_size;
	if (want < n) {
		count(SL_TLS_CNT_TRUNCATED_EVENTS, 1);
		count(SL_TLS_CNT_TRUNCATED_BYTES, n - want);
	}
	struct piece_ctx p = {
		.sc = sc,
		.buf = buf,
		.total = n,
		.want = want,
		.seq = seq,
		.pid_tgid = pid_tgid,
		.tls_id = tls_id,
		.conn_id = s->conn_id,
		.fd = s->conn_id ? s->fd : 0xffffffff,
		.dir = dir,
		.library = library,
	};
	bpf_loop(SL_MAX_TLS_CAPTURE / SL_MAX_CAPTURE, emit_piece, &p, 0);
}

/* ---- OpenSSL ---- */

static __always_inline struct tls_thread *this_thread(int create)
{
	return bpf_task_storage_get(&tls_threads, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline bool observed(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	return tgid != self_tgid && tgid_observed(tgid, filter_pids);
}

static __always_inline int ssl_enter(__u64 ssl, __u64 buf, __u64 len_ptr, __u8 dir, __u8 ex)
{
	if (!observed(bpf_get_current_pid_tgid()))
		return 0;
	struct tls_thread *t = this_thread(1);
	if (!t) {
		count(SL_TLS_CNT_LOST_STATE_FULL, 1);
		return 0;
	}
	t->call_tls = ssl;
	t->call_buf = buf;
	t->call_len_ptr = len_ptr;
	t->call_fd1 = 0;
	t->call_dir = dir;
	t->call_ex = ex;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(sl_ssl_write, void *ssl, const void *buf, int num)
{
	return ssl_enter((__u64)ssl, (__u64)buf, 0, SL_DIR_EGRESS, 0);
}

SEC("uprobe")
int BPF_KPROBE(sl_ssl_read, void *ssl, void *buf, int num)
{
	return ssl_enter((__u64)ssl, (__u64)buf, 0, SL_DIR_INGRESS, 0);
}

SEC("uprobe")
int BPF_KPROBE(sl_ssl_write_ex, void *ssl, const void *buf, size_t num, size_t *written)
{
	return ssl_enter((__u64)ssl, (__u64)buf, (__u64)written, SL_DIR_EGRESS, 1);
}

SEC("uprobe")
int BPF_KPROBE(sl_ssl_read_ex, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return ssl_enter((__u64)ssl, (__u64)buf, (__u64)readbytes, SL_DIR_INGRESS, 1);
}

/* One return probe for all four: the thread remembers which call it is in.
 * (BPF_KPROBE/BPF_KRETPROBE read the same registers for uprobes.) */
SEC("uretprobe")
int BPF_KRETPROBE(sl_ssl_return, long rax)
{
	int ret = (int)rax; /* all four return a C int: the upper half of RAX is not theirs */
	struct tls_thread *t = this_thread(0);
	if (!t || !t->call_tls)
		return 0;
	__u64 ssl = t->call_tls;
	t->call_tls = 0;
	__u64 n = 0;
	if (t->call_ex) {
		if (ret == 1 && bpf_probe_read_user(&n, sizeof(n), (void *)t->call_len_ptr))
			n = 0;
	} else if (ret > 0) {
		n = ret;
	}
	if (!n)
		return 0;
	on_plaintext(bpf_get_current_pid_tgid(), ssl, t->call_buf, n, t->call_dir, t->call_fd1,
		     SL_TLS_OPENSSL, t);
	return 0;
}

/* A freed SSL* may come back for another connection. */
SEC("uprobe")
int BPF_KPROBE(sl_ssl_free, void *ssl)
{
	struct tls_key k = {.tls_id = (__u64)ssl, .tgid = bpf_get_current_pid_tgid() >> 32};
	bpf_map_delete_elem(&tls_sessions, &k);
	return 0;
}

/* ---- Go crypto/tls (register ABI, Go 1.17+) ----
 * (*Conn).Write(b) and (*Conn).Read(b): receiver in RAX, b's pointer and
 * length in RBX and RCX, the byte count returned in RAX, the goroutine in
 * R14. Returns are probed at each RET instruction: uretprobes rewrite the
 * return address on a stack Go may move. */

SEC("uprobe")
int sl_go_read(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!observed(pid_tgid))
		return 0;
	struct go_key k = {.goroutine = ctx->r14, .tgid = pid_tgid >> 32};
	struct go_call c = {.conn = ctx->ax, .buf = ctx->bx, .len = ctx->cx, .dir = SL_DIR_INGRESS};
	if (bpf_map_update_elem(&go_calls, &k, &c, BPF_ANY))
		count(SL_TLS_CNT_LOST_STATE_FULL, 1);
	return 0;
}

/* The socket fd under a *tls.Conn whose net.Conn is a *net.TCPConn:
 * tls.Conn.conn (interface data word at +8) -> net.conn.fd (*netFD, +0) ->
 * netFD.pfd.Sysfd (+16, after poll.fdMutex). Returns fd + 1, or 0. The
 * socket probe's map has the final say on whether it is a TLS socket. */
static __always_inline __u32 go_conn_fd1(__u64 conn)
{
	__u64 tcp = 0, nfd = 0;
	__s64 fd = -1;
	if (bpf_probe_read_user(&tcp, sizeof(tcp), (void *)(conn + 8)) || !tcp)
		return 0;
	if (bpf_probe_read_user(&nfd, sizeof(nfd), (void *)tcp) || !nfd)
		return 0;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(nfd + 16)) || fd < 0 || fd > 0x7fffffff)
		return 0;
	return (__u32)fd + 1;
}

/* Write's plaintext goes out at entry: a client reads the response on
 * another goroutine, whose Read can return before this Write's RET runs,
 * and the request must reach userspace first. Write returns short only
 * with an error that ends the connection. The prologue runs again after
 * the goroutine's stack grew: the call already recorded is not sent twice. */
SEC("uprobe")
int sl_go_write(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!observed(pid_tgid))
		return 0;
	struct go_key k = {.goroutine = ctx->r14, .tgid = pid_tgid >> 32};
	struct go_call c = {.conn = ctx->ax, .buf = ctx->bx, .len = ctx->cx, .dir = SL_DIR_EGRESS};
	struct go_call *prev = bpf_map_lookup_elem(&go_calls, &k);
	if (prev && prev->dir == SL_DIR_EGRESS && prev->conn == c.conn && prev->buf == c.buf &&
	    prev->len == c.len)
		return 0;
	if (bpf_map_update_elem(&go_calls, &k, &c, BPF_ANY))
		count(SL_TLS_CNT_LOST_STATE_FULL, 1);
	if ((__s64)c.len > 0)
		on_plaintext(pid_tgid, c.conn, c.buf, c.len, SL_DIR_EGRESS, go_conn_fd1(c.conn),
			     SL_TLS_GO, NULL);
	return 0;
}

SEC("uprobe")
int sl_go_return(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct go_key k = {.goroutine = ctx->r14, .tgid = pid_tgid >> 32};
	struct go_call *c = bpf_map_lookup_elem(&go_calls, &k);
	if (!c)
		return 0;
	struct go_call call = *c;
	bpf_map_delete_elem(&go_calls, &k);
	long n = ctx->ax;
	if (call.dir != SL_DIR_INGRESS || n <= 0)
		return 0;
	on_plaintext(pid_tgid, call.conn, call.buf, n, call.dir, go_conn_fd1(call.conn), SL_TLS_GO,
		     NULL);
	return 0;
}

/* ---- discovery ---- */

SEC("tracepoint/sched/sched_process_exec")
int sl_process_exec(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((pid_tgid >> 32) == self_tgid)
		return 0;
	struct sl_event_header *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SL_TLS_CNT_LOST_CONTROL, 1);
		return 0;
	}
	fill_header(e, SL_EVENT_PROCESS_EXEC, sizeof(*e), pid_tgid);
	bpf_ringbuf_submit(e, sl_ringbuf_flags(wakeup_bytes));
	return 0;
}
