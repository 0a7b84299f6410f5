/* SPDX-License-Identifier: MIT */
/*
 * Thread start and end helpers of the recorder, outside the hot path: a pthread's end closes
 * the frames it still has open at that time (a thread ended by pthread_exit or pthread_cancel
 * never runs their exit hooks, and commit would otherwise end them at the thread's last
 * event, long before); and kernel threads that share a TLS (raw clone(CLONE_VM) children)
 * each get a recorder state of their own. Also a thread's first event (its event file or
 * ring, header, shadow stack and alternate signal stack set up with signals blocked), its end
 * (exact end offset and lost count in the header) and a fork child's forgetting of its parent's
 * mapping.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload-int.h"

void ctr_thread_end(struct ctr_thr *t)
{
	struct ctr_nocancel nc;
	int saved = errno;

	ctr_nocancel_begin(&nc);
	/* BUSY: an asynchronous cancel unwound the thread out of a hook; what it wrote is whole */
	if (t->depth && (CTR_GATE_IS_ON(t->gate) || t->gate == CTR_G_BUSY))
		ctr_go_dormant(t, ctr_now());
	ctr_thread_finish(t);
	ctr_nocancel_end(&nc);
	errno = saved;
}

/* ---- raw clone(CLONE_VM) children ------------------------------------------------------ */

/*
 * A child made by clone(CLONE_VM) without CLONE_SETTLS runs on its parent's thread pointer:
 * every __thread variable, ctr_tls included, is the parent's. Each such kernel thread gets an
 * entry here, and so does the TLS owner (its state moves out of ctr_tls while it is shared);
 * under CTR_G_SHARED an event finds its entry by gettid(). When the last child has ended, the
 * owner's next event moves its state back and the fast path resumes.
 */
#define SHARED_MAX 64

struct shared_ent {
	int32_t tid; /* 0: free; -1: claimed, its child not started yet */
	int owner;   /* the TLS owner's state (moved out of ctr_tls) */
	int (*fn)(void *);
	void *arg;
	struct ctr_thr thr;
};

static struct shared_ent shared_tab[SHARED_MAX];
static int shared_children; /* children started and not ended */

static struct shared_ent *shared_claim(int32_t tid)
{
	for (int i = 0; i < SHARED_MAX; i++) {
		int32_t z = 0;

		if (__atomic_compare_exchange_n(&shared_tab[i].tid, &z, tid, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return &shared_tab[i];
	}
	return NULL;
}

static struct shared_ent *shared_find(int32_t tid)
{
	for (int i = 0; i < SHARED_MAX; i++)
		if (__atomic_load_n(&shared_tab[i].tid, __ATOMIC_ACQUIRE) == tid)
			return &shared_tab[i];
	return NULL;
}

static int32_t gettid_raw(void)
{
	return (int32_t)syscall(SYS_gettid);
}

/* The owner's state back into ctr_tls (on the owner's thread); @e its entry. */
static void shared_restore(struct shared_ent *e)
{
	ctr_tls = e->thr;
	ctr_tls.end = NULL; /* a kick meanwhile went to ctr_tls: the next event re-checks */
	e->owner = 0;
	__atomic_store_n(&e->tid, 0, __ATOMIC_RELEASE);
}

struct ctr_thr *ctr_shared_self(void)
{
	struct shared_ent *e = shared_find(gettid_raw());

	if (!e)
		return NULL; /* a kernel thread started some other way: not recorded */
	if (e->owner && !__atomic_load_n(&shared_children, __ATOMIC_ACQUIRE)) {
		shared_restore(e);
		return &ctr_tls;
	}
	return &e->thr;
}

void ctr_shared_unshare(void)
{
	struct shared_ent *e = shared_find(gettid_raw());

	if (e && e->owner)
		shared_restore(e);
	else if (ctr_tls.gate == CTR_G_SHARED)
		ctr_tls.gate = CTR_G_OFF; /* a child ending the whole process: not the owner's */
}

/* The child's first code: its own state, the program's function, the end of its stream. */
static int shared_child(void *p)
{
	struct shared_ent *e = p;
	int r;

	e->thr = (struct ctr_thr){.gate = CTR_G_UNINIT, .file = {.fd = -1}};
	__atomic_store_n(&e->tid, gettid_raw(), __ATOMIC_RELEASE);
	r = e->fn(e->arg);
	ctr_thread_end(&e->thr);
	__atomic_store_n(&e->tid, 0, __ATOMIC_RELEASE);
	__atomic_fetch_sub(&shared_children, 1, __ATOMIC_ACQ_REL);
	return r;
}

int ctr_shared_clone(ctr_clone_fn real, int (*fn)(void *), void *stack, int flags, void *arg,
		     void *ptid, void *tls, void *ctid)
{
	struct shared_ent *e = shared_claim(-1), *o = NULL;
	int r, saved;

	if (!e) /* more children at once than entries: this one runs unrecorded on a state of
		 * its own that does nothing */
		return real(fn, stack, flags, arg, ptid, tls, ctid);
	e->fn = fn;
	e->arg = arg;
	e->owner = 0;
	if (ctr_tls.gate != CTR_G_SHARED) { /* the first child: the owner's state moves out */
		o = shared_claim(gettid_raw());
		if (!o) {
			__atomic_store_n(&e->tid, 0, __ATOMIC_RELEASE);
			return real(fn, stack, flags, arg, ptid, tls, ctid);
		}
		o->thr = ctr_tls;
		o->owner = 1;
		ctr_tls.gate = CTR_G_SHARED;
	}
	__atomic_fetch_add(&shared_children, 1, __ATOMIC_ACQ_REL);
	r = real(shared_child, stack, flags, e, ptid, tls, ctid);
	if (r < 0) {
		saved = errno;
		__atomic_fetch_sub(&shared_children, 1, __ATOMIC_ACQ_REL);
		__atomic_store_n(&e->tid, 0, __ATOMIC_RELEASE);
		errno = saved;
	}
	return r;
}

/* ---- thread life -------------------------------------------------------------------- */

static void write_header(struct ctr_thr *t)
{
	struct ctr_ev_hdr *h = (struct ctr_ev_hdr *)t->win;

	memcpy(h->magic, CTR_EV_MAGIC, 8);
	h->version = CTR_EV_VERSION;
	h->hdr_size = CTR_EV_HDR_SIZE;
	h->flags = ctr_proc.use_tsc ? CTR_EV_FLAG_TSC : 0;
	h->pid = ctr_proc.pid;
	h->tid = t->tid;
	h->ppid = ctr_proc.ppid;
	h->gen = ctr_proc.gen;
	h->ticks_per_sec = ctr_proc.ticks_per_sec;
	h->start_ticks = t->last;
	prctl(PR_GET_NAME, h->name, 0, 0, 0);
}

static void thread_start(struct ctr_thr *t)
{
	int saved = errno;
	stack_t ss;

	t->gate = CTR_G_BUSY;
	__atomic_fetch_add(&ctr_proc.starting, 1, __ATOMIC_SEQ_CST); /* ctr_threads_busy() */
	if (!ctr_proc.enabled) {
		/* before the constructor (a hook in another object's start-up): ask again later */
		t->gate = ctr_proc.ready ? CTR_G_OFF : CTR_G_UNINIT;
		goto out;
	}
	t->tid = (int32_t)syscall(SYS_gettid);
	if (!t->slots)
		t->slots = map_anon(CTR_NSLOTS * sizeof(uintptr_t));
	if (!t->stack) {
		t->stack = map_anon(STACK_INIT * sizeof(struct ctr_frame));
		t->mapped = t->stack ? STACK_INIT : 0;
	}
	t->cap = t->mapped; /* an attached thread starts again with the stack it had */
	if (ctr_opts.policy && !t->aux) {
		t->aux = map_anon(t->mapped * sizeof(struct ctr_aux));
		ctr_pend_map(t, CTR_PEND_INIT);
		if (!t->aux || !t->pend)
			t->slots = NULL; /* cannot apply the options: do not record wrongly */
	}
	/* apart: a thread of an attached process keeps its aux from an earlier attach */
	if (ctr_opts.sample && !t->scount && !(t->scount = map_anon(CTR_NSLOTS * sizeof(uint32_t))))
		t->slots = NULL;
	if (ctr_opts.max_depth && t->cap > ctr_opts.max_depth)
		t->cap = ctr_opts.max_depth;
	if (!t->slots) {
		t->gate = CTR_G_OFF;
		ctr_log(CTR_LOG_ERROR, "thread %d: out of memory: not recorded", (int)t->tid);
		goto out;
	}
	/* a shared ring when `ctrace record` drains one, else windows of the event file */
	if (ctr_proc.ring_size && ctr_ring_open(t) != 0) {
		ctr_log(CTR_LOG_WARN,
			"thread %d: cannot create its shared ring: %s; writing its "
			"event file directly",
			(int)t->tid, strerror(errno));
		ctr_unlink_ring_file(t);
	}
	if ((!t->ring && ctr_open_thread_file(t) != 0) ||
	    ctr_map_window(t, 0, ctr_proc.window_min) != 0) {
		ctr_log(CTR_LOG_ERROR, "thread %d: cannot create its event file: %s", (int)t->tid,
			strerror(errno));
		ctr_enter_lost_mode(t);
		goto reg;
	}
	t->last = now_ticks();
	write_header(t);
	if (t->ring)
		memcpy(&t->ring->ev, t->win, sizeof(struct ctr_ev_hdr));
	t->pos = put_u64(t->pos, CTR_X_TIME, 0, t->last);
	if (t->depth)
		ctr_write_inherit(t);
	jump_mark(t);
	t->gate = CTR_GATE_ON;
reg:
	/* attached (ctrace attach) the crash handlers are not installed: no stack for them */
	if (!ctr_proc.attached && sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE)) {
		t->altstack = map_anon(ALTSTACK_SIZE);
		if (t->altstack) {
			ss.ss_sp = t->altstack;
			ss.ss_size = ALTSTACK_SIZE;
			ss.ss_flags = 0;
			sigaltstack(&ss, NULL);
		}
	}
	ctr_register_thread(t);
out:
	__atomic_fetch_sub(&ctr_proc.starting, 1, __ATOMIC_SEQ_CST);
	errno = saved;
}

/* The first event of a thread: cancellation (its files are opened by cancellation points) and
 * the program's signals (a handler that jumps out would leave it half done) wait until the
 * thread is set up. */
void ctr_thread_start(struct ctr_thr *t)
{
	struct ctr_nocancel nc;
	sigset_t all, old;
	int saved = errno;

	sigfillset(&all);
	ctr_nocancel_begin(&nc);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	thread_start(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ctr_nocancel_end(&nc);
	errno = saved;
}

/* Thread exit: exact end offset and lost count in the header, preallocated tail released. */
void ctr_thread_finish(struct ctr_thr *t)
{
	int saved = errno;
	struct ctr_nocancel nc;
	uint64_t end;
	uint32_t flags;
	int fd;

	if (t == &ctr_tls && t->gate == CTR_G_SHARED)
		ctr_shared_unshare(); /* the TLS owner's own state, back in place */
	if (t->gate == CTR_G_UNINIT || t->gate == CTR_G_OFF)
		return;
	ctr_nocancel_begin(&nc);
	t->gate = CTR_G_BUSY;
	if (t->n_pend && t->win)
		ctr_flush_pending(t, 0);
	if (t->lost_pending) {
		t->lost += t->lost_pending;
		ctr_lost_global(t->lost_pending);
		t->lost_pending = 0;
	}
	fd = t->file.held ? ctr_thread_fd(t) : -1;
	if (t->ring) { /* the drainer writes the header and trims the file */
		end = t->win ? t->win_off + (uint64_t)(t->pos - t->win) * 4 : 0;
		flags = (ctr_proc.use_tsc ? CTR_EV_FLAG_TSC : 0) | CTR_EV_FLAG_CLOSED;
		ctr_ring_close(t, end, flags);
		t->win = NULL;
	} else if (t->win) {
		struct ctr_ev_hdr *h = t->win_off == 0 ? (struct ctr_ev_hdr *)t->win : NULL;

		end = t->win_off + (uint64_t)(t->pos - t->win) * 4;
		flags = (ctr_proc.use_tsc ? CTR_EV_FLAG_TSC : 0) | CTR_EV_FLAG_CLOSED;
		if (h) { /* the header is in the mapping: no descriptor needed */
			h->end_offset = end;
			h->lost_events = t->lost;
			h->flags = flags;
		} else if (fd >= 0) {
			pwrite(fd, &end, 8, offsetof(struct ctr_ev_hdr, end_offset));
			pwrite(fd, &t->lost, 8, offsetof(struct ctr_ev_hdr, lost_events));
			pwrite(fd, &flags, 4, offsetof(struct ctr_ev_hdr, flags));
		}
		munmap(t->win, t->win_size);
		t->win = NULL;
		if (fd >= 0 && ftruncate(fd, (off_t)end) != 0)
			ctr_log(CTR_LOG_DEBUG, "cannot trim event file: %s", strerror(errno));
	}
	ctr_fd_close(&t->file);
	t->file.held = 0;
	ctr_unregister_thread(t);
	if (t->altstack) {
		stack_t ss = {.ss_flags = SS_DISABLE};

		sigaltstack(&ss, NULL);
		munmap(t->altstack, ALTSTACK_SIZE);
		t->altstack = NULL;
	}
	t->pos = t->end = NULL;
	t->gate = CTR_G_OFF;
	ctr_nocancel_end(&nc);
	errno = saved;
}

/* In a fork child: the parent's window and file are not ours; start a new file at the next
 * event, with the open frames inherited. */
void ctr_thread_forget(struct ctr_thr *t)
{
	if (t->gate == CTR_G_UNINIT)
		return;
	if (t->ring)
		ctr_ring_forget(t); /* the parent's: the parent's drainer still needs it as is */
	else if (t->win)
		munmap(t->win, t->win_size);
	ctr_fd_close(&t->file); /* the parent's, inherited: only if it still is that file */
	t->file.held = 0;
	t->win = NULL;
	t->pos = t->end = NULL;
	t->lost = t->lost_pending = 0;
	t->next = NULL;
	if (t->slots)
		memset(t->slots, 0, CTR_NSLOTS * sizeof(uintptr_t));
	if (t->scount) /* per slot, like the slots */
		memset(t->scount, 0, CTR_NSLOTS * sizeof(uint32_t));
	t->altstack = NULL; /* still installed and mapped in the child: keep using it */
	t->gate = CTR_G_UNINIT;
}
