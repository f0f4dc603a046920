#include "autoconflib.h"

#include <makelib.h>

int autoconflib_sum_squares(int a, int b)
{
    return makelib_square(a) + makelib_square(b);
}
