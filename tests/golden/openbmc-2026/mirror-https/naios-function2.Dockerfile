
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/Naios/function2/archive/4.2.4.tar.gz | tar -xz && cd function2* && mkdir /usr/local/include/function2 && cp include/function2/function2.hpp /usr/local/include/function2/
