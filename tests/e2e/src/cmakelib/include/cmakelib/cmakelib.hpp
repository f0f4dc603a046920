// cmakelib: a tiny C++ library built with CMake + Ninja (build type "cmake").
#pragma once

namespace cmakelib
{

// 3 * x
int triple(int x);

} // namespace cmakelib
