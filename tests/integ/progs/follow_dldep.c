/* libfldep.so (tests/integ/test_followed.sh): linked by follow_dl, found through
 * LD_LIBRARY_PATH=. (the loader names it by a relative path). */
static volatile int sink;
void dep_fn(void)
{
	sink++;
}
