/* SPDX-License-Identifier: MIT */
/*
 * Thread start and end helpers of the recorder, outside the hot path: a pthread's end closes
 * the frames it still has open at that time (a thread ended by pthread_exit or pthread_cancel
 * never runs their exit hooks, and commit would otherwise end them at the thread's last
 * event, long before); and kernel threads that share a TLS (raw clone(CLONE_VM) children)
 * each get a recorder state of their own.
 */
#include <errno.h>
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
