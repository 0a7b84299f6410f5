/* rec(100000): 100001 nested calls. */
static volatile int sink;
__attribute__((noinline)) int rec(int n)
{
	sink++;
	if (n == 0)
		return 0;
	int r = rec(n - 1) + 1;
	sink--;
	return r;
}
int main(void)
{
	return rec(100000) == 100000 ? 0 : 1;
}
