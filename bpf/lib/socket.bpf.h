/* Resolving a file descriptor of the current task to a TCP socket, and
 * reading its endpoints. CO-RE reads only; no kernel structs copied. */
#ifndef SIGHTLINE_BPF_LIB_SOCKET_H
#define SIGHTLINE_BPF_LIB_SOCKET_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Macros from uapi headers that vmlinux.h cannot carry. */
#define SL_S_IFMT 00170000
#define SL_S_IFSOCK 0140000
#define SL_AF_INET 2
#define SL_AF_INET6 10
#define SL_SOCK_STREAM 1
#define SL_IPPROTO_TCP 6
#define SL_EINPROGRESS 115
#define SL_MSG_PEEK 2

struct sl_endpoints {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u16 family;
};

/* The struct socket behind `fd` in the current task, or NULL when the fd is
 * not a socket. Walks task->files->fdt->fd[fd]; bounded by max_fds. */
static __always_inline struct socket *sl_fd_to_socket(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return NULL;
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & SL_S_IFMT) != SL_S_IFSOCK)
		return NULL;
	return (struct socket *)BPF_CORE_READ(file, private_data);
}

/* Fills `ep` and returns 0 when `sock` is an IPv4/IPv6 TCP stream socket. */
static __always_inline int sl_tcp_endpoints(struct socket *sock, struct sl_endpoints *ep)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return -1;
	__u16 type = BPF_CORE_READ(sk, sk_type);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (type != SL_SOCK_STREAM || proto != SL_IPPROTO_TCP)
		return -1;
	ep->family = family;
	ep->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	ep->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == SL_AF_INET) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(ep->local_addr, &l, 4);
		__builtin_memcpy(ep->remote_addr, &r, 4);
		return 0;
	}
	if (family == SL_AF_INET6) {
		BPF_CORE_READ_INTO(&ep->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&ep->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		return 0;
	}
	return -1;
}

#endif
