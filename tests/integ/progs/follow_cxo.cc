// sub/libflcxo.so (tests/integ/test_followed.sh): dlopen'd by follow_dl; links
// sub/libflcxi.so through DT_RUNPATH $ORIGIN. cx_entry() -> flw::Outer::run(4) ->
// flw::Inner::twice(int) x4.
namespace flw {
struct Inner {
	static int twice(int x);
};
struct Outer {
	int run(int n);
};
int Outer::run(int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += Inner::twice(i);
	return s;
}
} // namespace flw

extern "C" void cx_entry(int)
{
	flw::Outer o;
	static volatile int sink;
	sink = o.run(4);
}
