// A destructor run by a cleanup landing pad while an exception unwinds: a call of mid(), not
// of thrower(), whatever the compiler (clang runs no exit hook in unwound frames). top() x3.
#include <stdexcept>
static volatile int sink;
struct D {
	__attribute__((noinline)) ~D() { sink++; }
};
__attribute__((noinline)) void thrower() { sink++; throw std::runtime_error("x"); }
__attribute__((noinline)) void mid() { D d; thrower(); sink++; }
__attribute__((noinline)) void top() { try { mid(); } catch (const std::exception &) { sink++; } }
int main() { for (int i = 0; i < 3; i++) top(); return 0; }
