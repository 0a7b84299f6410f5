// sub/libflcxi.so (tests/integ/test_followed.sh): found by libflcxo.so through $ORIGIN.
namespace flw {
struct Inner {
	static int twice(int x);
};
__attribute__((noinline)) int Inner::twice(int x)
{
	return 2 * x;
}
} // namespace flw
