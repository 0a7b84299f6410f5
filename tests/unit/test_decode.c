/* SPDX-License-Identifier: MIT */
/*
 * Event word decoder tests (common/decode.c): version-2 LEAF and EXIT2 words come out as the
 * ENTER/EXIT events they stand for, with exact times, refs and depths, at their fields' maxima;
 * the writer's in-place rewrites (ctr_w2_leaf_of, ctr_w2_exit2_of) give the same words as the
 * constructors and refuse one past the maxima, where a call stays ENTER + EXIT; version-1
 * words (stored timelines, old raw files) keep their meaning.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/decode.h"

#define TIME(t) ctr_w_ext(CTR_X_TIME, 2, 0), (uint32_t)(t), (uint32_t)((uint64_t)(t) >> 32)
#define DEFINE(slot, a) ctr_w_ext(CTR_X_DEFINE, 2, slot), (uint32_t)(a), 0

struct want {
	int type;
	uint64_t time, ref;
	uint32_t depth;
};

/* Decodes @n words of @version and checks the events against @want (@nwant of them). */
static void expect(unsigned version, const uint32_t *w, size_t n, const struct want *want,
		   size_t nwant)
{
	struct ctr_decoder d;
	struct ctr_event ev;
	struct ctr_err e;
	size_t i = 0;
	int rc;

	ctr_err_clear(&e);
	ctr_decoder_init(&d);
	cr_assert_eq(ctr_decoder_set_version(&d, version, &e), 0);
	ctr_decoder_feed(&d, w, n * 4);
	while ((rc = ctr_decoder_next(&d, &ev, &e)) > 0) {
		cr_assert_lt(i, nwant, "more events than expected");
		cr_expect_eq(ev.type, want[i].type, "event %zu: type %d", i, ev.type);
		cr_expect_eq(ev.time, want[i].time, "event %zu: time %llu", i,
			     (unsigned long long)ev.time);
		cr_expect_eq(ev.ref, want[i].ref, "event %zu: ref %llx", i,
			     (unsigned long long)ev.ref);
		cr_expect_eq(ev.depth, want[i].depth, "event %zu: depth %u", i, ev.depth);
		i++;
	}
	cr_assert_eq(rc, 0, "%s", e.msg);
	cr_assert_eq(i, nwant, "%zu events, expected %zu", i, nwant);
	ctr_decoder_release(&d);
}

#define EXPECT(v, w, want)                                                                         \
	expect(v, w, sizeof(w) / sizeof(w[0]), want, sizeof(want) / sizeof(want[0]))

Test(decode, leaf_is_an_enter_and_its_exit)
{
	const uint32_t w[] = {TIME(1000), DEFINE(5, 0x5050), ctr_w_enter(5, 3),
			      ctr_w2_leaf(5, 7, 9), ctr_w2_exit(4)};
	const struct want want[] = {
	    {CTR_EV_ENTER, 1003, 0x5050, 1},
	    {CTR_EV_ENTER, 1010, 0x5050, 2},
	    {CTR_EV_EXIT, 1019, 0x5050, 2},
	    {CTR_EV_EXIT, 1023, 0x5050, 1},
	};

	EXPECT(2, w, want);
}

Test(decode, leaf_fields_at_their_maxima)
{
	const uint32_t w[] = {
	    TIME(1), DEFINE(CTR_NSLOTS - 1, 0xabc0),
	    ctr_w2_leaf(CTR_NSLOTS - 1, CTR_W2_LEAF_DELTA_MAX, CTR_W2_LEAF_DUR_MAX),
	    ctr_w2_leaf(CTR_NSLOTS - 1, 0, 0)};
	const struct want want[] = {
	    {CTR_EV_ENTER, 1 + 255, 0xabc0, 1},
	    {CTR_EV_EXIT, 1 + 255 + 255, 0xabc0, 1},
	    {CTR_EV_ENTER, 511, 0xabc0, 1},
	    {CTR_EV_EXIT, 511, 0xabc0, 1},
	};

	cr_assert_eq(CTR_W2_LEAF_DELTA_MAX, 255);
	cr_assert_eq(CTR_W2_LEAF_DUR_MAX, 255);
	EXPECT(2, w, want);
}

Test(decode, exit2_is_two_exits)
{
	const uint32_t w[] = {TIME(100),
			      DEFINE(1, 0x1110),
			      DEFINE(2, 0x2220),
			      ctr_w_enter(1, 0),
			      ctr_w_enter(2, 1),
			      ctr_w2_leaf(1, 2, 3),
			      ctr_w2_exit2(CTR_W2_EXIT2_D1_MAX, CTR_W2_EXIT2_D2_MAX),
			      ctr_w_enter(2, 0),
			      ctr_w2_exit2(0, 0),
			      ctr_w2_exit(CTR_W2_EXIT_DELTA_MAX)};
	const uint64_t t1 = 100 + 1 + 2 + 3 + 0x3FFF, t2 = t1 + 0x7FFF;
	const struct want want[] = {
	    {CTR_EV_ENTER, 100, 0x1110, 1},
	    {CTR_EV_ENTER, 101, 0x2220, 2},
	    {CTR_EV_ENTER, 103, 0x1110, 3},
	    {CTR_EV_EXIT, 106, 0x1110, 3},
	    {CTR_EV_EXIT, t1, 0x2220, 2},
	    {CTR_EV_EXIT, t2, 0x1110, 1},
	    {CTR_EV_ENTER, t2, 0x2220, 1},
	    {CTR_EV_EXIT, t2, 0x2220, 1},
	    {CTR_EV_EXIT, t2, 0, 0}, /* unmatched */
	    {CTR_EV_EXIT, t2 + 0x1FFFFFFF, 0, 0},
	};

	EXPECT(2, w, want);
}

/* The writer turns the previous word into a LEAF / EXIT2 by or'ing bits in: the result is the
 * constructor's word up to the fields' maxima, and one past them the word is not merged. */
Test(decode, in_place_rewrites_match_the_constructors)
{
	const uint32_t slots[] = {0, 1, 0x155, CTR_NSLOTS - 1};

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		for (uint32_t ed = 0; ed <= CTR_W2_LEAF_DELTA_MAX + 1; ed++) {
			uint32_t enter = ctr_w_enter(slots[i], ed);

			cr_assert_eq(CTR_W2_LEAFABLE(enter), ed <= CTR_W2_LEAF_DELTA_MAX);
			if (ed > CTR_W2_LEAF_DELTA_MAX)
				continue;
			for (uint32_t du = 0; du <= CTR_W2_LEAF_DUR_MAX; du += 17)
				cr_assert_eq(ctr_w2_leaf_of(enter, du),
					     ctr_w2_leaf(slots[i], ed, du));
			cr_assert_eq(ctr_w2_leaf_of(enter, 255), ctr_w2_leaf(slots[i], ed, 255));
		}
	}
	cr_assert(!CTR_W2_LEAFABLE(ctr_w_enter(3, 256)));
	cr_assert(!CTR_W2_LEAFABLE(ctr_w_enter(3, CTR_ENTER_DELTA_MAX)));
	cr_assert(!CTR_W2_LEAFABLE(ctr_w2_exit(1)));
	cr_assert(!CTR_W2_LEAFABLE(ctr_w2_leaf(3, 1, 1)));
	cr_assert(!CTR_W2_LEAFABLE(ctr_w_ext(CTR_X_TIME, 2, 0)));
	for (uint32_t d1 = 0; d1 <= CTR_W2_EXIT2_D1_MAX + 1; d1 += (d1 < 64 ? 1 : 997)) {
		cr_assert_eq(CTR_W2_PAIRABLE(ctr_w2_exit(d1)), d1 <= CTR_W2_EXIT2_D1_MAX);
		if (d1 <= CTR_W2_EXIT2_D1_MAX)
			cr_assert_eq(ctr_w2_exit2_of(ctr_w2_exit(d1), CTR_W2_EXIT2_D2_MAX),
				     ctr_w2_exit2(d1, CTR_W2_EXIT2_D2_MAX));
	}
	cr_assert(CTR_W2_PAIRABLE(ctr_w2_exit(CTR_W2_EXIT2_D1_MAX)));
	cr_assert(!CTR_W2_PAIRABLE(ctr_w2_exit(CTR_W2_EXIT2_D1_MAX + 1)));
	cr_assert(!CTR_W2_PAIRABLE(ctr_w2_exit2(1, 1)));
	cr_assert(!CTR_W2_PAIRABLE(ctr_w_enter(3, 0)));
	cr_assert(!CTR_W2_PAIRABLE(ctr_w2_leaf(3, 0, 0)));
}

/* One past a LEAF field's maximum the writer keeps ENTER + EXIT: the same events. */
Test(decode, past_the_maxima_enter_and_exit)
{
	const uint32_t w[] = {TIME(0),
			      DEFINE(9, 0x990),
			      ctr_w_enter(9, 256),
			      ctr_w2_exit(255),
			      ctr_w_enter(9, 255),
			      ctr_w2_exit(256),
			      ctr_w_enter(9, 0),
			      ctr_w2_exit(CTR_W2_EXIT2_D1_MAX + 1),
			      ctr_w2_exit(1)};
	const struct want want[] = {
	    {CTR_EV_ENTER, 256, 0x990, 1},	{CTR_EV_EXIT, 511, 0x990, 1},
	    {CTR_EV_ENTER, 766, 0x990, 1},	{CTR_EV_EXIT, 1022, 0x990, 1},
	    {CTR_EV_ENTER, 1022, 0x990, 1},	{CTR_EV_EXIT, 1022 + 0x4000, 0x990, 1},
	    {CTR_EV_EXIT, 1023 + 0x4000, 0, 0},
	};

	EXPECT(2, w, want);
}

/* Version 1: EXIT is bit 0 with a 31-bit delta, so a word ending in 11 is an EXIT, not a LEAF. */
Test(decode, version_1_words)
{
	const uint32_t w[] = {TIME(10),	     DEFINE(4, 0x440),	ctr_w_enter(4, 1),
			      ctr_w_exit(1), ctr_w_enter(4, 0), ctr_w_exit(CTR_EXIT_DELTA_MAX)};
	const struct want want[] = {
	    {CTR_EV_ENTER, 11, 0x440, 1},
	    {CTR_EV_EXIT, 12, 0x440, 1},
	    {CTR_EV_ENTER, 12, 0x440, 1},
	    {CTR_EV_EXIT, 12 + 0x7FFFFFFFull, 0x440, 1},
	};

	cr_assert_eq(ctr_w_exit(1) & 3, 3); /* read as version 2 it would be a LEAF */
	EXPECT(1, w, want);
}

Test(decode, default_is_version_1)
{
	const uint32_t w[] = {TIME(10), DEFINE(4, 0x440), ctr_w_enter(4, 0), ctr_w_exit(5)};
	struct ctr_decoder d;
	struct ctr_event ev;
	struct ctr_err e;

	ctr_decoder_init(&d);
	ctr_decoder_feed(&d, w, sizeof(w));
	cr_assert_eq(ctr_decoder_next(&d, &ev, &e), 1);
	cr_assert_eq(ctr_decoder_next(&d, &ev, &e), 1);
	cr_assert_eq(ev.type, CTR_EV_EXIT);
	cr_assert_eq(ev.time, 15);
	cr_assert_eq(ctr_decoder_next(&d, &ev, &e), 0);
	ctr_decoder_release(&d);
}

Test(decode, unknown_versions_refused)
{
	struct ctr_decoder d;
	struct ctr_err e;

	ctr_decoder_init(&d);
	ctr_err_clear(&e);
	cr_assert_eq(ctr_decoder_set_version(&d, 0, &e), CTR_EVERSION);
	cr_assert_eq(e.code, CTR_EVERSION);
	cr_assert_eq(ctr_decoder_set_version(&d, CTR_EV_VERSION + 1, &e), CTR_EVERSION);
	cr_assert_eq(ctr_decoder_set_version(&d, CTR_EV_VERSION, &e), 0);
	ctr_decoder_release(&d);
}

/* A LEAF's exit still comes out when the input ends right after the word, and a LEAF of an
 * undefined slot or before any TIME is a format error, like an ENTER. */
Test(decode, leaf_at_a_piece_boundary_and_errors)
{
	const uint32_t w[] = {TIME(10), DEFINE(4, 0x440), ctr_w2_leaf(4, 1, 2), ctr_w2_exit(3)};
	struct ctr_decoder d;
	struct ctr_event ev;
	struct ctr_err e;

	ctr_decoder_init(&d);
	ctr_decoder_set_version(&d, 2, NULL);
	ctr_decoder_feed(&d, w, 7 * 4); /* up to the LEAF */
	cr_assert_eq(ctr_decoder_next(&d, &ev, &e), 1);
	cr_assert_eq(ev.type, CTR_EV_ENTER);
	cr_assert_eq(ctr_decoder_next(&d, &ev, &e), 1);
	cr_assert_eq(ev.type, CTR_EV_EXIT);
	cr_assert_eq(ev.time, 13);
	cr_assert_eq(ev.offset, 6 * 4);
	cr_assert_eq(ctr_decoder_next(&d, &ev, &e), 0);
	ctr_decoder_feed(&d, w + 7, 4);
	cr_assert_eq(ctr_decoder_next(&d, &ev, &e), 1);
	cr_assert_eq(ev.type, CTR_EV_EXIT);
	cr_assert_eq(ev.unmatched, 1);
	cr_assert_eq(ev.time, 16);
	ctr_decoder_release(&d);

	const uint32_t undef[] = {TIME(10), ctr_w2_leaf(4, 1, 2)};
	const uint32_t notime[] = {DEFINE(4, 0x440), ctr_w2_leaf(4, 1, 2)};
	const uint32_t *bad[] = {undef, notime};
	const size_t nbad[] = {sizeof(undef), sizeof(notime)};

	for (int i = 0; i < 2; i++) {
		ctr_err_clear(&e);
		ctr_decoder_init(&d);
		ctr_decoder_set_version(&d, 2, NULL);
		ctr_decoder_feed(&d, bad[i], nbad[i]);
		cr_assert_eq(ctr_decoder_next(&d, &ev, &e), CTR_EFORMAT);
		cr_assert_eq(e.code, CTR_EFORMAT);
		ctr_decoder_release(&d);
	}
}

/* A COUNT record without payload (the writer's form of a single dropped call) is one call; with
 * its u32 payload, that many. */
Test(decode, count_of_one_is_one_word)
{
	const uint32_t w[] = {TIME(50),
			      DEFINE(5, 0x5050),
			      ctr_w_enter(5, 3),
			      ctr_w_ext(CTR_X_COUNT, 0, 5),
			      ctr_w_ext(CTR_X_COUNT, 1, 5),
			      7,
			      ctr_w2_exit(4)};
	const uint64_t counts[] = {1, 7};
	struct ctr_decoder d;
	struct ctr_event ev;
	struct ctr_err e;
	size_t n = 0, i = 0;
	int rc;

	ctr_err_clear(&e);
	ctr_decoder_init(&d);
	cr_assert_eq(ctr_decoder_set_version(&d, 2, &e), 0);
	ctr_decoder_feed(&d, w, sizeof(w));
	while ((rc = ctr_decoder_next(&d, &ev, &e)) > 0) {
		n++;
		if (ev.type != CTR_EV_COUNT)
			continue;
		cr_assert_lt(i, 2);
		cr_expect_eq(ev.ref, 0x5050);
		cr_expect_eq(ev.count, counts[i], "count %zu: %llu", i,
			     (unsigned long long)ev.count);
		i++;
	}
	cr_assert_eq(rc, 0, "%s", e.msg);
	cr_expect_eq(i, 2);
	cr_expect_eq(n, 4, "enter, two counts, exit: %zu events", n);
	ctr_decoder_release(&d);
}
