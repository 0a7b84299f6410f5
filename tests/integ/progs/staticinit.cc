// SPDX-License-Identifier: MIT
// A C++ global whose constructor runs before main: gcc names the static initializer after it
// (_GLOBAL__sub_I__ZN2kv7versionB5cxx11E), which ctrace shows demangled after the prefix.
#include <string>

namespace kv
{
std::string version = std::string("1.") + "2";
int __attribute__((noinline)) work(int x)
{
	return x + (int)version.size();
}
} // namespace kv

int main()
{
	return kv::work(0) - 3;
}
