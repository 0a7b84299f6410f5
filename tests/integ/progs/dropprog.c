// SPDX-License-Identifier: MIT
/*
 * A known call structure for the drop policy (tests/integ/test_drop.sh, which replays the
 * same structure in Python): 400 distinct leaves called 3 times each by every mid(), more
 * distinct short callees than the recorder's count hints can hold without repeats, and a
 * longjmp out of a recursion whose frames never see their exit hooks. With an argument, a
 * recursion 200 deep instead, each level with 400 dropped calls.
 */
#include <setjmp.h>

static volatile unsigned sink;
static jmp_buf jb;

/* Macro-generated code that clang-format cannot lay out stably. */
/* clang-format off */
#define LEAF(i) __attribute__((noinline)) static void leaf##i(void) { sink += i; }
#define L10(a) LEAF(a##0) LEAF(a##1) LEAF(a##2) LEAF(a##3) LEAF(a##4) \
	LEAF(a##5) LEAF(a##6) LEAF(a##7) LEAF(a##8) LEAF(a##9)
#define L100(a) L10(a##0) L10(a##1) L10(a##2) L10(a##3) L10(a##4) \
	L10(a##5) L10(a##6) L10(a##7) L10(a##8) L10(a##9)
L100(1) L100(2) L100(3) L100(4)
#define C(i) leaf##i();
#define C10(a) C(a##0) C(a##1) C(a##2) C(a##3) C(a##4) C(a##5) C(a##6) C(a##7) C(a##8) C(a##9)
#define C100(a) C10(a##0) C10(a##1) C10(a##2) C10(a##3) C10(a##4) \
	C10(a##5) C10(a##6) C10(a##7) C10(a##8) C10(a##9)
    /* clang-format on */

    __attribute__((noinline)) static void inner(void)
{
	leaf100();
}

/* leaf100 .. leaf499, three times over, then inner() when m is a multiple of 7 */
__attribute__((noinline)) static void mid(int m)
{
	for (int r = 0; r < 3; r++) {
		C100(1) C100(2) C100(3) C100(4)
	}
	if (m % 7 == 0)
		inner();
}

__attribute__((noinline)) static void top(void)
{
	for (int m = 0; m < 50; m++)
		mid(m);
}

/* leaf101, then down to n == 0, which jumps back to jumper() (not a tail call) */
__attribute__((noinline)) static void deep(int n)
{
	leaf101();
	if (n == 0)
		longjmp(jb, 1);
	deep(n - 1);
	sink++;
}

__attribute__((noinline)) static void jumper(void)
{
	if (!setjmp(jb))
		deep(3);
}

/* every leaf once, then down to n == 0: 400 dropped calls pending in each of 200 frames,
 * more than the recorder's count array may hold (its calls are then kept instead) */
__attribute__((noinline)) static void deeprec(int n)
{
	C100(1) C100(2) C100(3) C100(4) if (n > 0) deeprec(n - 1);
	sink++;
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) { /* dropprog deep */
		deeprec(199);
		return 0;
	}
	top();
	top();
	for (int i = 0; i < 5; i++)
		jumper();
	return 0;
}
