/* One source, three libraries (tests/integ/test_followed.sh): built with -DL=a, -DL=b, -DL=c
 * as libfla.so, libflb.so, libflc.so; dlX_fn() calls dlX_leaf(). Names of equal length, so
 * libfla.so and libflc.so have every function at the same offset. */
#define CAT_(a, b, c) a##b##c
#define CAT(a, b, c) CAT_(a, b, c)
static volatile int sink;
__attribute__((noinline)) void CAT(dl, L, _leaf)(int x)
{
	sink += x;
}
void CAT(dl, L, _fn)(int x)
{
	CAT(dl, L, _leaf)(x);
}
