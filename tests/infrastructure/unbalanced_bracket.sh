#!/bin/sh
# Prints a line with an unbalanced '[' and then a line whose time stamp is one tick late: the
# output check must still compare line by line (tests/infrastructure, CMakeLists.txt).
echo "[ 0.1s] main      one [ unbalanced bracket"
echo "[ 0.3s] main      the next line, one tick late"
