/* SPDX-License-Identifier: MIT */
/*
 * The raw run format shared by the writer (preload/) and every reader (tools/, store/).
 * Documented byte by byte in docs/format.md; change both together and bump the version.
 *
 * An event file is a 128-byte header followed by little-endian 32-bit event words. A call is
 * an ENTER word and an EXIT word, or one LEAF word when nothing was recorded between its enter
 * and its exit and both times are small; two exits in a row with small deltas share one EXIT2
 * word (version 2). The function is named by a 14-bit slot of a per-thread direct-mapped table
 * that DEFINE records fill, and times are deltas from the previous event of the same thread. A
 * zero word ends the data (files are preallocated with zeros), so a crashed writer leaves a
 * readable file.
 *
 * Version 1 files have no LEAF or EXIT2 words and a 31-bit EXIT delta (ctr_w_exit()). The
 * stored timeline (store/) keeps that version-1 word encoding, with TIME payloads in
 * nanoseconds since run start, deltas in nanoseconds and DEFINE/INHERIT payloads function ids
 * instead of addresses. ENTER and extended words are the same in both versions.
 */
#ifndef CTR_FORMAT_H
#define CTR_FORMAT_H

#include <stdint.h>

#define CTR_EV_MAGIC "CTRACEV\0" /* 8 bytes */
#define CTR_EV_VERSION 2	 /* raw event files; readers also read version 1 */
#define CTR_EV_HDR_SIZE 128

#define CTR_EV_FLAG_TSC 0x1u	/* ticks are TSC cycles (else CLOCK_MONOTONIC ns) */
#define CTR_EV_FLAG_CLOSED 0x2u /* the thread ended cleanly; end_offset is exact */

/* Header of an event file (t-PID-GEN-TID.ev). Little-endian; 128 bytes. */
struct ctr_ev_hdr {
	char magic[8];		/*  0: CTR_EV_MAGIC */
	uint16_t version;	/*  8: CTR_EV_VERSION */
	uint16_t hdr_size;	/* 10: CTR_EV_HDR_SIZE: data starts here */
	uint32_t flags;		/* 12: CTR_EV_FLAG_* */
	int32_t pid;		/* 16 */
	int32_t tid;		/* 20 */
	int32_t ppid;		/* 24 */
	uint32_t gen;		/* 28: exec generation of the process in this run */
	uint64_t ticks_per_sec; /* 32: clock frequency */
	uint64_t start_ticks;	/* 40: clock at thread start */
	uint64_t end_offset;	/* 48: byte offset of the end of data when closed, else 0 */
	uint64_t lost_events;	/* 56: events not recorded (disk full, reentrancy), when closed */
	char name[32];		/* 64: thread name at start, NUL padded */
	uint8_t reserved[32];	/* 96: zero */
};

/* Event words of version 1 (and of stored timelines). ENTER and extended words are the same in
 * version 2; CTR_W_IS_EXIT and ctr_w_exit() are version 1 only. */
#define CTR_W_IS_EXIT(w) (((w)&1u) == 1u)
#define CTR_W_IS_ENTER(w) (((w)&3u) == 2u)
#define CTR_W_IS_EXT(w) (((w)&3u) == 0u && (w) != 0u)

#define CTR_SLOT_BITS 14
#define CTR_NSLOTS (1u << CTR_SLOT_BITS)
#define CTR_ENTER_DELTA_MAX 0xFFFFu    /* 16 bits */
#define CTR_EXIT_DELTA_MAX 0x7FFFFFFFu /* 31 bits */

static inline uint32_t ctr_w_exit(uint32_t delta)
{
	return (delta << 1) | 1u;
}
static inline uint32_t ctr_w_enter(uint32_t slot, uint32_t delta)
{
	return (delta << 16) | (slot << 2) | 2u;
}
static inline uint32_t ctr_w_ext(uint32_t kind, uint32_t nwords, uint32_t arg)
{
	return (arg << 16) | (nwords << 8) | (kind << 2);
}
#define CTR_W_EXIT_DELTA(w) ((w) >> 1)
#define CTR_W_ENTER_SLOT(w) (((w) >> 2) & (CTR_NSLOTS - 1))
#define CTR_W_ENTER_DELTA(w) ((w) >> 16)
#define CTR_W_EXT_KIND(w) (((w) >> 2) & 0x3Fu)
#define CTR_W_EXT_NWORDS(w) (((w) >> 8) & 0xFFu)
#define CTR_W_EXT_ARG(w) ((w) >> 16)

/*
 * Version 2 (raw event files): the low two bits are 00 extended, 10 ENTER (as in version 1),
 * 11 LEAF, 01 EXIT or EXIT2 (bit 2 tells which).
 *   LEAF:  bits 2-15 slot, bits 16-23 enter delta, bits 24-31 duration: a whole call
 *   EXIT:  bit 2 = 0, bits 3-31 delta
 *   EXIT2: bit 2 = 1, bits 3-16 delta of a first exit, bits 17-31 delta of a second one
 * A LEAF is an ENTER word whose delta fits 8 bits with the duration or'ed in, and an EXIT2 is
 * an EXIT word whose delta fits 14 bits with the second delta or'ed in, so the writer turns
 * the previous word into one in place (ctr_w2_leaf_of(), ctr_w2_exit2_of()).
 */
#define CTR_W2_TAG(w) ((w)&3u)
#define CTR_W2_T_EXT 0u
#define CTR_W2_T_EXIT 1u /* EXIT or EXIT2 */
#define CTR_W2_T_ENTER 2u
#define CTR_W2_T_LEAF 3u
#define CTR_W2_IS_EXIT2(w) (((w)&7u) == 5u)

#define CTR_W2_EXIT_DELTA_MAX 0x1FFFFFFFu /* 29 bits */
#define CTR_W2_LEAF_DELTA_MAX 0xFFu	  /* enter delta and duration: 8 bits each */
#define CTR_W2_LEAF_DUR_MAX 0xFFu
#define CTR_W2_EXIT2_D1_MAX 0x3FFFu /* 14 bits */
#define CTR_W2_EXIT2_D2_MAX 0x7FFFu /* 15 bits */

static inline uint32_t ctr_w2_exit(uint32_t delta)
{
	return (delta << 3) | 1u;
}
static inline uint32_t ctr_w2_leaf(uint32_t slot, uint32_t delta, uint32_t dur)
{
	return (dur << 24) | (delta << 16) | (slot << 2) | 3u;
}
static inline uint32_t ctr_w2_exit2(uint32_t d1, uint32_t d2)
{
	return (d2 << 17) | (d1 << 3) | 5u;
}
/* An ENTER word @enter can become a LEAF when its delta fits: CTR_W2_LEAFABLE(enter). */
#define CTR_W2_LEAFABLE(w) ((w) <= 0xFFFFFFu && CTR_W2_TAG(w) == CTR_W2_T_ENTER)
/* An EXIT word @exit can become an EXIT2 when its delta fits: CTR_W2_PAIRABLE(exit). */
#define CTR_W2_PAIRABLE(w) ((w) <= 0x1FFFFu && ((w)&7u) == 1u)
static inline uint32_t ctr_w2_leaf_of(uint32_t enter, uint32_t dur)
{
	return enter | (dur << 24) | 1u;
}
static inline uint32_t ctr_w2_exit2_of(uint32_t exit, uint32_t d2)
{
	return exit | (d2 << 17) | 4u;
}
#define CTR_W2_EXIT_DELTA(w) ((w) >> 3)
#define CTR_W2_LEAF_DELTA(w) (((w) >> 16) & 0xFFu)
#define CTR_W2_LEAF_DUR(w) ((w) >> 24)
#define CTR_W2_EXIT2_D1(w) (((w) >> 3) & 0x3FFFu)
#define CTR_W2_EXIT2_D2(w) ((w) >> 17)

/* Slot of a function address (writer side only: DEFINE records name the slot, so readers
 * never compute it): two instructions, and 16-byte-aligned functions in any 256 KiB of code
 * never share a slot. */
static inline uint32_t ctr_slot_of(uint64_t addr)
{
	return (uint32_t)(addr >> 4) & (CTR_NSLOTS - 1);
}

/* Extended record kinds. Payload sizes in words; strings are at most 255 bytes, NUL-free,
 * zero padded to a word boundary. u64 payloads are two words, low word first. */
enum ctr_ext_kind {
	CTR_X_TIME = 1,		/* payload u64 absolute time; arg 0 */
	CTR_X_DEFINE = 2,	/* payload u64 address (stored: function id); arg = slot */
	CTR_X_LOST = 3,		/* payload u64 number of events lost here */
	CTR_X_PAD = 4,		/* payload: nwords words to skip; arg 0 */
	CTR_X_INHERIT = 5,	/* payload u64 address (stored: function id): a frame that was
				 * already open when recording began (fork child, switch-on);
				 * an enter at the current time marked inherited */
	CTR_X_SPAN = 6,		/* arg = name length; payload name: enter of a manual span */
	CTR_X_ATTR_STR = 7,	/* arg = key length; payload: u32 value length, key, value */
	CTR_X_ATTR_INT = 8,	/* arg = key length; payload: i64 value, key */
	CTR_X_MARK = 9,		/* arg = name length; payload name: instant event */
	CTR_X_THREAD_NAME = 10, /* arg = name length; payload name */
	CTR_X_UNWIND = 11,	/* arg = frames closed at once (longjmp, exception); payload
				 * u32 delta from the previous event */
	CTR_X_COUNT = 12,	/* arg = slot; payload u32 calls of that function not recorded
				 * individually (filters, sampling, --min-duration); no
				 * payload (nwords 0, raw files only): one call */
	CTR_X_TRACER = 13,	/* payload u32 ticks the recorder spent at this point of the
				 * stream (mapping a window, growing the stack, deciding a
				 * filter): removed from every frame open here */
	CTR_X_HIDDEN = 14,	/* arg = enum ctr_hidden_kind; payload u32 hook calls (enter +
				 * exit) that ran in the innermost open frame without being
				 * recorded: their cost is removed from that frame */
	CTR_X_FRAME = 15,	/* payload u64 address: a frame open where a flight-recorder
				 * chunk begins, outermost first (after the chunk's TIME). A
				 * snapshot starting at that chunk turns them into INHERIT
				 * records; readers of a whole stream skip them */
	CTR_X_OFFCPU = 16,	/* stored timelines only (ctrace record --sched): arg 1 = the
				 * thread blocked, 2 = it was preempted; payload u64 ns it was
				 * off the CPU from this point on */
};

/* Why hook calls ran without being recorded (CTR_X_HIDDEN). */
enum ctr_hidden_kind {
	CTR_HIDDEN_EXCLUDED = 0, /* --exclude / --module */
	CTR_HIDDEN_DEEP = 1,	 /* deeper than --depth */
	CTR_HIDDEN_KINDS = 2,
};

#define CTR_STR_MAX 255

/*
 * Shared rings (docs/recording.md "Shared rings"). Under `ctrace record` each thread writes its
 * event stream (the exact bytes of its t-*.ev file, header first) into a fixed ring of chunks
 * in r-PID-GEN-TID.ring, and the record process (the drainer) copies whole chunks to the event
 * file at the same offsets, zeroes them and hands them back. Offsets below are offsets in that
 * stream; ring position = offset % data_size. The writer never maps a new page once a chunk has
 * been used, and a chunk is published only when complete (padded), so after a crash the drainer
 * copies the published chunks and then the one being written, up to its zero words.
 */
#define CTR_RING_MAGIC "CTRRING\0" /* 8 bytes */
/* In a flight-recorder ring (flight = 1) nothing is drained: the writer zeroes and reuses a
 * chunk when it comes round to it, and each chunk but the first begins with a TIME record and a
 * FRAME record per open frame, and DEFINEs again every function it names, so that a snapshot
 * can begin at any chunk. */
/* Version 2: the writer zeroes a drained chunk when it takes it again (word 0 first), not the
 * drainer; the drainer still zeroes the chunks of version-1 rings. */
#define CTR_RING_VERSION 2
#define CTR_RING_HDR_SIZE 4096 /* the data area starts here */

enum ctr_ring_state {
	CTR_RING_OPEN = 1,   /* the writer is (or was, if its process died) writing */
	CTR_RING_CLOSED = 2, /* the thread ended: end, lost and flags are final */
};

/* First page of a ring file; little-endian. Fields marked (w) are written by the recording
 * thread only, (d) by the drainer only; both use atomic loads and stores on head, tail, state
 * and stop. */
struct ctr_ring_hdr {
	char magic[8];	      /*   0: CTR_RING_MAGIC */
	uint16_t version;     /*   8: CTR_RING_VERSION */
	uint16_t hdr_size;    /*  10: CTR_RING_HDR_SIZE */
	uint32_t state;	      /*  12: (w) enum ctr_ring_state, stored last */
	uint64_t data_size;   /*  16: bytes of ring data, a multiple of chunk_size */
	uint64_t chunk_size;  /* 24 */
	int32_t pid;	      /*  32 */
	int32_t tid;	      /*  36 */
	uint32_t gen;	      /*  40 */
	uint32_t reserved0;   /*  44 */
	uint64_t head;	      /*  48: (w) every byte before it is written (chunk aligned) */
	uint64_t end;	      /*  56: (w) end of data, when closed */
	uint64_t lost;	      /*  64: (w) events lost, when closed */
	uint32_t flags;	      /*  72: (w) CTR_EV_FLAG_*, when closed */
	uint32_t waits;	      /*  76: (w) times the writer found the ring full and waited */
	uint32_t snap_req;    /*  80: (w) the thread's last snapshot request it waits for */
	uint32_t flight;      /*  84: (w) 1: flight recorder: chunks are reused, never drained */
	uint8_t pad1[40];     /*  88: keeps the drainer's fields on their own cache line */
	uint64_t tail;	      /* 128: (d) every byte before it is drained (the writer may reuse) */
	uint32_t stop;	      /* 136: (d) nonzero: the drainer takes no more (--max-size) */
	uint32_t snap_done;   /* 140: (d) the last of the thread's snapshot requests taken */
	uint8_t pad2[112];    /* 144 */
	struct ctr_ev_hdr ev; /* 256: (w) the thread's event-file header as written at its start
			       * (a snapshot whose first chunk was overwritten starts with it) */
};

#endif
