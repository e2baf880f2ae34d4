package org.ivigfhir.referee;
public class Main { public static void main(String[] a) { System.out.println("stub"); } }
