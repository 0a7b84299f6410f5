static volatile int sink;
__attribute__((noinline)) static void lib_helper(int x)
{
	sink += x;
}
void lib_fn(int x)
{
	lib_helper(x);
}
