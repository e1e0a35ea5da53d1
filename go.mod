module github.com/carebridge/carebridge

go 1.26.8
