// SPDX-License-Identifier: GPL-2.0
/* Follows TCP connections of every process through syscall tracepoints and
 * emits their payload to userspace.
 *
 * Enter programs decide cheaply whether the fd matters (one hash lookup for
 * fds already seen) and stash the syscall arguments per thread; exit programs
 * know how many bytes moved, classify the first bytes, and copy at most the
 * capture size into one ring-buffer event. Nothing is copied for fds that are
 * not tracked TCP sockets. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "lib/payload.bpf.h"
#include "lib/shared.bpf.h"
#include "lib/socket.bpf.h"
#include "sightline/bpf/sockets.h"
#include "sightline/bpf/tls.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace between open and load. */
const volatile __u32 self_tgid = 0;
const volatile __u32 capture_size = 4096;
const volatile __u64 wakeup_bytes = 256 * 1024;
const volatile __u8 filter_pids = 0;  /* only tgids in pid_allow */
const volatile __u8 filter_ports = 0; /* only connections with a port in port_allow */
const volatile __u8 deny_ports = 0;   /* never connections with a port in port_deny */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sl_counters SEC(".maps");

/* One slot per CPU, indexed by CPU id: per-CPU arrays cap values at 32 KiB,
 * which is less than one full event. Userspace sizes it to the CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_scratch);
} scratch SEC(".maps");


struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} port_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} port_deny SEC(".maps");

/* tgids whose identity was sent (SL_EVENT_PROCESS_INFO). LRU: a process
 * forgotten here is simply described again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} described SEC(".maps");

/* Connection ids: unique for the life of the loaded program. */
__u64 next_conn_id = 0;

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&sl_counters, &idx);
	if (v)
		*v += n;
}

static __always_inline __u64 ringbuf_flags(void)
{
	return sl_ringbuf_flags(wakeup_bytes);
}

static __always_inline void emit_conn(__u32 type, __u64 pid_tgid, __u32 fd,
				      const struct fd_state *st, const struct sl_endpoints *ep)
{
	struct sl_conn_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SL_CNT_LOST_CONTROL_RINGBUF_FULL, 1);
		return;
	}
	fill_header(&e->hdr, type, sizeof(*e), pid_tgid);
	e->conn_id = st->conn_id;
	e->bytes_ingress = st->seq[SL_DIR_INGRESS];
	e->bytes_egress = st->seq[SL_DIR_EGRESS];
	if (ep) {
		__builtin_memcpy(e->local_addr, ep->local_addr, 16);
		__builtin_memcpy(e->remote_addr, ep->remote_addr, 16);
		e->local_port = ep->local_port;
		e->remote_port = ep->remote_port;
		e->family = ep->family;
	} else {
		__builtin_memset(e->local_addr, 0, 16);
		__builtin_memset(e->remote_addr, 0, 16);
		e->local_port = 0;
		e->remote_port = 0;
		e->family = 0;
	}
	e->role = st->role;
	e->protocol = st->protocol;
	e->fd = fd;
	e->_pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, ringbuf_flags());
}

static __always_inline bool port_listed(void *map, const struct sl_endpoints *ep)
{
	return bpf_map_lookup_elem(map, &ep->local_port) ||
	       bpf_map_lookup_elem(map, &ep->remote_port);
}

/* Sends the current process's executable name and environment once, from
 * its own context: a short-lived client has exited before userspace could
 * read /proc. Only at a first connection, so never on the data path. */
static __always_inline void describe_process(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	if (bpf_map_lookup_elem(&described, &tgid))
		return;
	__u8 one = 1;
	bpf_map_update_elem(&described, &tgid, &one, BPF_ANY);

	__u32 cpu = bpf_get_smp_processor_id();
	struct data_scratch *sc = bpf_map_lookup_elem(&scratch, &cpu);
	if (!sc)
		return;
	struct sl_process_event *e = (struct sl_process_event *)sc;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 start = BPF_CORE_READ(mm, env_start);
	__u64 end = BPF_CORE_READ(mm, env_end);
	__u64 len = end > start ? end - start : 0;
	__u64 cap = len;
	barrier_var(cap);
	if (cap > SL_MAX_CAPTURE)
		cap = SL_MAX_CAPTURE;
	__u8 *env = (__u8 *)(e + 1);
	if (cap && bpf_probe_read_user(env, cap, (void *)start))
		cap = 0;
	e->env_len = len;
	e->env_cap = cap;
	const unsigned char *name = BPF_CORE_READ(mm, exe_file, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(e->exe_name, sizeof(e->exe_name), name) < 0)
		e->exe_name[0] = 0;
	fill_header(&e->hdr, SL_EVENT_PROCESS_INFO, sizeof(*e) + cap, pid_tgid);
	if (bpf_ringbuf_output(&events, e, sizeof(*e) + cap, ringbuf_flags()))
		count(SL_CNT_LOST_PROCESS_INFO, 1);
}

/* Records what `fd` of the current task is and returns the new state, or
 * NULL when it could not be stored. Emits CONN_OPEN for tracked sockets. */
static __always_inline struct fd_state *track_fd(__u64 pid_tgid, __u32 fd, __u8 role)
{
	__u32 tgid = pid_tgid >> 32;
	__u64 key = fd_key(tgid, fd);
	struct fd_state st = {};
	struct sl_endpoints ep = {};
	struct socket *sock = sl_fd_to_socket(fd);

	st.role = role;
	if (sock && sl_tcp_endpoints(sock, &ep) == 0) {
		if (!tgid_observed(tgid, filter_pids)) {
			st.kind = FD_IGNORED;
		} else if ((deny_ports && port_listed(&port_deny, &ep)) ||
			   (filter_ports && !port_listed(&port_allow, &ep))) {
			st.kind = FD_FILTERED;
			count(SL_CNT_CONNS_FILTERED, 1);
		} else {
			st.kind = FD_TCP;
			st.conn_id = __sync_fetch_and_add(&next_conn_id, 1) + 1;
		}
	}
	if (bpf_map_update_elem(&fds, &key, &st, BPF_ANY)) {
		count(SL_CNT_LOST_CONN_MAP_FULL, 1);
		return NULL;
	}
	if (st.kind == FD_TCP) {
		describe_process(pid_tgid);
		emit_conn(SL_EVENT_CONN_OPEN, pid_tgid, fd, &st, &ep);
	}
	return bpf_map_lookup_elem(&fds, &key);
}

/* ---- TLS: which socket a TLS session writes to ----
 * A TLS call in progress on this thread that does socket I/O is bound to
 * that socket then and there (socket BIOs: nginx, curl, Python). With
 * memory BIOs (Node.js) the ciphertext moves outside the call, on the same
 * thread: it is read just before SSL_read and written just after SSL_write,
 * so the thread remembers its last TLS read and its last unbound write. */

static __always_inline void bind_pending(__u64 pid_tgid, __u64 tls_id, __u32 fd,
					 const struct fd_state *st)
{
	struct tls_key k = {.tls_id = tls_id, .tgid = pid_tgid >> 32};
	struct tls_session *s = bpf_map_lookup_elem(&tls_sessions, &k);
	if (!s || s->conn_id || s->filtered)
		return;
	/* A filtered socket: the session's plaintext is not wanted, and what
	 * userspace holds of it goes (conn_id 0 says so). */
	if (st->kind == FD_FILTERED)
		s->filtered = 1;
	else
		s->conn_id = st->conn_id;
	s->fd = fd;
	struct sl_tls_bind_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SL_CNT_LOST_TLS_BIND, 1);
		return;
	}
	fill_header(&e->hdr, SL_EVENT_TLS_BIND, sizeof(*e), pid_tgid);
	e->conn_id = s->conn_id;
	e->tls_id = tls_id;
	e->fd = fd;
	e->_pad = 0;
	bpf_ringbuf_submit(e, ringbuf_flags());
}

static __always_inline void note_tls_io(__u64 pid_tgid, __u32 fd, __u8 dir,
					const struct fd_state *st)
{
	/* Filtered sockets are not sniffed: only threads already doing TLS look. */
	__u64 flags = st->kind == FD_FILTERED ? 0 : BPF_LOCAL_STORAGE_GET_F_CREATE;
	struct tls_thread *t =
		bpf_task_storage_get(&tls_threads, bpf_get_current_task_btf(), 0, flags);
	if (!t)
		return;
	if (t->call_tls) {
		if (!t->call_fd1)
			t->call_fd1 = fd + 1;
		return;
	}
	if (dir == SL_DIR_INGRESS) {
		t->last_read_fd1 = fd + 1;
		return;
	}
	if (t->pending_write) {
		bind_pending(pid_tgid, t->pending_write, fd, st);
		t->pending_write = 0;
	}
}

/* ---- data path ---- */

/* The syscall's arguments, read back at exit from the user registers saved
 * at entry: no enter program runs, and nothing is stashed per thread. The
 * pointer is a BTF one, so register reads are plain (relocated) loads. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

enum arg_layout {
	ARGS_FLAT,     /* fd, buf, len */
	ARGS_IOV,      /* fd, iov, iovcnt */
	ARGS_MSG,      /* fd, msghdr */
	ARGS_SENDFILE, /* out_fd, in_fd: no user buffer */
};

static __always_inline void finish_io(long ret, __u8 sys, __u8 dir, enum arg_layout layout)
{
	if (ret <= 0)
		return;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (tgid == self_tgid)
		return;
	struct pt_regs *regs = syscall_regs();
	struct io_args a = {.syscall = sys, .direction = dir};
	a.fd = PT_REGS_PARM1_SYSCALL(regs);
	__u64 key = fd_key(tgid, a.fd);
	struct fd_state *st = bpf_map_lookup_elem(&fds, &key);
	if (!st)
		st = track_fd(pid_tgid, a.fd, SL_ROLE_UNKNOWN);
	if (!st)
		return;
	if (st->kind == FD_FILTERED) {
		/* Its TLS plaintext must be known as unwanted, not as lost. */
		note_tls_io(pid_tgid, a.fd, dir, st);
		return;
	}
	if (st->kind != FD_TCP || st->protocol == SL_PROTO_OTHER)
		return;

	/* MSG_PEEK leaves the bytes for the next read: they classify the
	 * connection (nginx peeks one byte to tell TLS from HTTP) but are not
	 * part of the stream yet. */
	bool peek = false;
	if (sys == SL_SYS_RECVFROM)
		peek = PT_REGS_PARM4_SYSCALL(regs) & SL_MSG_PEEK;
	else if (sys == SL_SYS_RECVMSG)
		peek = PT_REGS_PARM3_SYSCALL(regs) & SL_MSG_PEEK;
	__u64 seq = peek ? 0 : __sync_fetch_and_add(&st->seq[dir], ret);

	if (layout == ARGS_FLAT) {
		a.buf = PT_REGS_PARM2_SYSCALL(regs);
	} else if (layout == ARGS_IOV) {
		a.buf = PT_REGS_PARM2_SYSCALL(regs);
		a.iovcnt = PT_REGS_PARM3_SYSCALL(regs);
	} else if (layout == ARGS_MSG) {
		/* Unreadable: nothing gets copied, and the event says so. */
		struct user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (void *)PT_REGS_PARM2_SYSCALL(regs)) == 0) {
			a.buf = (__u64)m.msg_iov;
			a.iovcnt = m.msg_iovlen;
		}
	}

	if (st->protocol == SL_PROTO_UNKNOWN && a.syscall != SL_SYS_SENDFILE) {
		__u8 proto = sniff(&a, ret, st->role == SL_ROLE_UNKNOWN);
		if (proto == SL_PROTO_OTHER && st->role == SL_ROLE_UNKNOWN)
			return; /* open before we started: may be mid-message, look again next time */
		st->protocol = proto;
		if (proto == SL_PROTO_OTHER) {
			count(SL_CNT_CONNS_UNCLASSIFIED, 1);
			return;
		}
		if (proto == SL_PROTO_TLS || proto == SL_PROTO_HTTP2) {
			count(proto == SL_PROTO_TLS ? SL_CNT_CONNS_TLS : SL_CNT_CONNS_HTTP2, 1);
			/* Userspace accounts for what it will (or will not) see on it. */
			emit_conn(SL_EVENT_CONN_PROTOCOL, pid_tgid, a.fd, st, NULL);
		}
	}
	/* After an 8-byte SSLRequest the stream either goes on in plaintext
	 * (the server said 'N': a startup packet follows) or in TLS ('S'). */
	if (st->protocol == SL_PROTO_POSTGRES && seq == 8 && !peek &&
	    a.syscall != SL_SYS_SENDFILE && starts_tls_handshake(&a)) {
		st->protocol = SL_PROTO_TLS;
		count(SL_CNT_CONNS_TLS, 1);
		emit_conn(SL_EVENT_CONN_PROTOCOL, pid_tgid, a.fd, st, NULL);
	}
	if (peek)
		return;
	if (st->protocol == SL_PROTO_TLS) {
		/* Ciphertext is never captured: its plaintext comes from the TLS probe. */
		note_tls_io(pid_tgid, a.fd, dir, st);
		return;
	}
	if (st->protocol == SL_PROTO_POSTGRES || st->protocol == SL_PROTO_REDIS) {
		/* Database and cache calls are measured where they are made: the
		 * server's copy of the same bytes is not captured. */
		if (st->role == SL_ROLE_SERVER)
			return;
	} else if (st->protocol != SL_PROTO_HTTP1) {
		return;
	}

	__u32 cpu = bpf_get_smp_processor_id();
	struct data_scratch *sc = bpf_map_lookup_elem(&scratch, &cpu);
	if (!sc)
		return;
	__u64 want = 0;
	__u64 iov_cut = 0;
	if (a.syscall != SL_SYS_SENDFILE) {
		want = ret < capture_size ? ret : capture_size;
		if (want > SL_MAX_CAPTURE)
			want = SL_MAX_CAPTURE;
	}
	__u64 got = want ? copy_payload(sc, &a, want, ret, &iov_cut) : 0;
	barrier_var(got);
	if (got > SL_MAX_CAPTURE)
		got = SL_MAX_CAPTURE;
	if (got < want && !iov_cut)
		count(SL_CNT_LOST_DATA_READ_FAILED, 1);
	if (a.syscall == SL_SYS_SENDFILE)
		count(SL_CNT_UNCAPTURED_BYTES_SENDFILE, ret);
	else if (got < ret) {
		count(SL_CNT_TRUNCATED_EVENTS, 1);
		count(SL_CNT_TRUNCATED_BYTES_IOV, iov_cut);
		count(SL_CNT_TRUNCATED_BYTES_CAPTURE, ret - got - iov_cut);
	}

	struct sl_data_event *e = &sc->ev;
	fill_header(&e->hdr, SL_EVENT_DATA, sizeof(*e) + got, pid_tgid);
	e->conn_id = st->conn_id;
	e->seq = seq;
	e->orig_len = ret;
	e->cap_len = got;
	e->fd = a.fd;
	e->direction = dir;
	e->syscall = a.syscall;
	e->protocol = st->protocol;
	e->role = st->role;
	if (bpf_ringbuf_output(&events, sc, sizeof(*e) + got, ringbuf_flags()))
		count(SL_CNT_LOST_DATA_RINGBUF_FULL, 1);
}

/* ---- tracepoints ---- */

SEC("tracepoint/syscalls/sys_exit_read")
int sl_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_READ, SL_DIR_INGRESS, ARGS_FLAT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_readv")
int sl_exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_READV, SL_DIR_INGRESS, ARGS_IOV);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int sl_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_RECVFROM, SL_DIR_INGRESS, ARGS_FLAT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int sl_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_RECVMSG, SL_DIR_INGRESS, ARGS_MSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_write")
int sl_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_WRITE, SL_DIR_EGRESS, ARGS_FLAT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_writev")
int sl_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_WRITEV, SL_DIR_EGRESS, ARGS_IOV);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int sl_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_SENDTO, SL_DIR_EGRESS, ARGS_FLAT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int sl_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_SENDMSG, SL_DIR_EGRESS, ARGS_MSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int sl_exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	finish_io(ctx->ret, SL_SYS_SENDFILE, SL_DIR_EGRESS, ARGS_SENDFILE);
	return 0;
}

/* ---- connection lifecycle ---- */

SEC("tracepoint/syscalls/sys_exit_accept")
int sl_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (ctx->ret >= 0 && (pid_tgid >> 32) != self_tgid)
		track_fd(pid_tgid, ctx->ret, SL_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sl_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (ctx->ret >= 0 && (pid_tgid >> 32) != self_tgid)
		track_fd(pid_tgid, ctx->ret, SL_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sl_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((pid_tgid >> 32) == self_tgid)
		return 0;
	/* Non-blocking connects report EINPROGRESS; the endpoints are already set. */
	if (ctx->ret == 0 || ctx->ret == -SL_EINPROGRESS)
		track_fd(pid_tgid, PT_REGS_PARM1_SYSCALL(syscall_regs()), SL_ROLE_CLIENT);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int sl_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 fd = ctx->args[0];
	__u64 key = fd_key(pid_tgid >> 32, fd);
	struct fd_state *st = bpf_map_lookup_elem(&fds, &key);
	if (!st)
		return 0;
	if (st->kind == FD_TCP)
		emit_conn(SL_EVENT_CONN_CLOSE, pid_tgid, fd, st, NULL);
	bpf_map_delete_elem(&fds, &key);
	return 0;
}

/* ---- process exit ----
 * A process that exits closes its sockets without close(2): tell userspace,
 * so requests still waiting on those connections are reported now rather
 * than at the idle timeout. Fires per thread; report only when the last
 * thread of the group goes (signal->live has already dropped to zero). */
SEC("tracepoint/sched/sched_process_exit")
int sl_process_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (tgid == self_tgid)
		return 0;
	/* A later process with this pid must be described afresh. */
	bpf_map_delete_elem(&described, &tgid);
	struct sl_event_header *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SL_CNT_LOST_CONTROL_RINGBUF_FULL, 1);
		return 0;
	}
	fill_header(e, SL_EVENT_PROCESS_EXIT, sizeof(*e), pid_tgid);
	bpf_ringbuf_submit(e, ringbuf_flags());
	return 0;
}
