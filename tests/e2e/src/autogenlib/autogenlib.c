#include "autogenlib.h"

#include <autoconflib.h>

int autogenlib_is_pythagorean(int a, int b, int c)
{
    return autoconflib_sum_squares(a, b) == autoconflib_sum_squares(c, 0);
}
