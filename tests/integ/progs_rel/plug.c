/* The plugin of plugmain: plug_fn() calls plug_helper(). */
static volatile long sink;

__attribute__((noinline)) void plug_helper(long x)
{
	sink += x;
}

void plug_fn(long x)
{
	plug_helper(x);
}
