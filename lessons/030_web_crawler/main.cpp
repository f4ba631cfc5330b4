// Project 030: a web crawler. Without arguments it crawls a small generated site on 127.0.0.1
// (the demo); `030_web_crawler URL` crawls for real; --help lists the flags (program.cpp).
#include "crawler_how_it_is_built.hpp"

int main(int argc, char** argv) { return lesson030::run_program(argc, argv); }
