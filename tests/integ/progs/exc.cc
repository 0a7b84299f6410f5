// t1 -> t2 -> t3 throws through 3 instrumented frames; catcher() catches, then calls after().
#include <stdexcept>
static volatile int sink;
__attribute__((noinline)) void t3() { sink++; throw std::runtime_error("x"); }
__attribute__((noinline)) void t2() { t3(); sink++; }
__attribute__((noinline)) void t1() { t2(); sink++; }
__attribute__((noinline)) void after() { sink++; }
__attribute__((noinline)) void catcher()
{
	try { t1(); } catch (const std::exception &) { sink++; }
	after();
}
int main() { catcher(); return 0; }
