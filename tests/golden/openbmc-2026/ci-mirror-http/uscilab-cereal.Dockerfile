
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/USCiLab/cereal/archive/v1.3.2.tar.gz | tar -xz && cd cereal* && cp -a include/cereal/ /usr/local/include/
