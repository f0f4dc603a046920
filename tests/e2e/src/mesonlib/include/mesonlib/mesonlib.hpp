// mesonlib: a tiny C++ library built with Meson (build type "meson"); uses
// cmakelib.
#pragma once

namespace mesonlib
{

// 9 * x, computed as cmakelib::triple(cmakelib::triple(x))
int nonuple(int x);

} // namespace mesonlib
